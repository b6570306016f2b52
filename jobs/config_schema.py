"""Entry point: the study configuration's JSON Schema or its key list (`dualscan config-schema`)."""

from __future__ import annotations

import argparse
import json
import sys

from jobs.commands import finished, summary_of


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the schema command."""
    parser = argparse.ArgumentParser("dualscan config-schema", add_help=add_help,
                                     description=summary_of("config-schema"))
    parser.add_argument("--out", help="write it to this file (default: print it)")
    parser.add_argument("--keys", action="store_true",
                        help="every dotted key with its type and default, as a Markdown table "
                             "(docs/configuration.md's), instead of the JSON Schema")
    return parser


def main(args: argparse.Namespace) -> int:
    from study.config_keys import config_schema, key_table

    text = key_table() if args.keys else json.dumps(config_schema(), indent=2)
    if args.out is None:
        print(text)
        return 0
    try:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    except OSError as err:
        print(f"dualscan config-schema: cannot write {args.out}: {err.strerror}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
