"""Fault drills for cluster tests: a scoring job whose scorers are slow until a gate file appears,
so that a test can change the cluster while the job is sure to be running.

Run as a job's entrypoint: ``python -m tests.cluster.drills GATE -- ARGS`` (ARGS: jobs.score's)."""

from __future__ import annotations

import os
import sys
import time

from jobs.scoring.batches import Scorer


def gated_scorer(gate: str, seconds: float = 2.0, timeout_s: float = 600.0) -> type[Scorer]:
    """A Scorer that takes ``seconds`` more over each batch until the file ``gate`` exists (for at
    most ``timeout_s`` in all: a test that never opens it still ends): its actors stay busy, batch
    after batch, like a costly model's, and the job outlasts whatever the test waits for. Defined in
    a function, so Ray pickles the class by value."""
    deadline = time.time() + timeout_s

    class GatedScorer(Scorer):
        def __call__(self, batch):
            if not os.path.exists(gate) and time.time() < deadline:
                time.sleep(seconds)
            return super().__call__(batch)

    return GatedScorer


def main(argv: list[str]) -> int:
    """jobs.score's main with gated scorers."""
    from jobs import score
    from jobs.commands import finished
    from jobs.scoring import run

    gate, args = argv[0], [a for a in argv[1:] if a != "--"]
    plain = run.run_scoring
    run.run_scoring = lambda options, scorer=Scorer: plain(options, gated_scorer(gate))
    return finished(score.main(score.get_args_parser().parse_args(args)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
