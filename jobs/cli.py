"""The `dualscan` command: one console script fronting every job module's parser and main."""

from __future__ import annotations

import argparse
import importlib
import sys

# Subcommand -> module exposing get_args_parser(add_help) and main(args).
COMMANDS: dict[str, str] = {
    "synth": "jobs.synth",
    "preview": "jobs.preview",
    "import": "jobs.import_archive",
    "train": "jobs.train",
    "study": "jobs.study",
    "study-report": "jobs.study_report",
    "score": "jobs.score",
    "report-summary": "jobs.report_summary",
    "cluster": "jobs.cluster",
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per registered command."""
    parser = argparse.ArgumentParser(
        prog="dualscan",
        description="Sub-component anomaly detection in dual-energy X-ray baggage scans.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        template = module.get_args_parser(add_help=False)
        sub.add_parser(name, parents=[template], help=template.description,
                       description=template.description)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command's main."""
    args = build_parser().parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command])
    return int(module.main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
