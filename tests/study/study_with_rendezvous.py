"""`python -m jobs.study` whose trials meet the test at SecondTrialRendezvous (the SIGINT-resume test's
study job): the job's own flags plus the rendezvous's, its build_tuner given the hook as after_epoch."""

from __future__ import annotations

import functools
import sys

import study.run
from jobs.commands import finished
from jobs.study import get_args_parser, main
from tests.study.drills import SecondTrialRendezvous

if __name__ == "__main__":
    parser = get_args_parser()
    parser.add_argument("--rendezvous", required=True, help="the Unix socket the test listens on")
    parser.add_argument("--markers", required=True, help="a directory for the rendezvous's markers")
    args = parser.parse_args()
    hook = SecondTrialRendezvous(args.rendezvous, args.markers)
    # jobs.study imports build_tuner when it runs: it gets this one
    study.run.build_tuner = functools.partial(study.run.build_tuner, after_epoch=hook)
    sys.exit(finished(main(args)))
