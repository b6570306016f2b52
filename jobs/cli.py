"""The `dualscan` command: one console script fronting every job module's parser and main."""

from __future__ import annotations

import argparse
import importlib
import sys

from jobs.commands import COMMANDS, finished

DESCRIPTION = "Sub-component anomaly detection in dual-energy X-ray baggage scans."


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser: every command listed by its summary; only ``command``'s module is
    imported, for its arguments (the others' imports, torch and Ray among them, are not paid)."""
    parser = argparse.ArgumentParser(prog="dualscan", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, entry in COMMANDS.items():
        listed = entry.summary.replace("%", "%%")  # argparse formats help strings with %
        if name == command:
            template = importlib.import_module(entry.module).get_args_parser(add_help=False)
            sub.add_parser(name, parents=[template], help=listed, description=entry.summary)
        else:
            sub.add_parser(name, help=listed, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command's main."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(command).parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command].module)
    return finished(module.main(args))


if __name__ == "__main__":
    sys.exit(main())
