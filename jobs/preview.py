"""Entry point: contact sheet of an existing archive (`dualscan preview`)."""

from __future__ import annotations

import argparse
import sys

from jobs.commands import finished, summary_of
from scans.errors import ArchiveError


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the preview job."""
    parser = argparse.ArgumentParser(
        "dualscan preview", add_help=add_help,
        description=summary_of("preview"),
    )
    parser.add_argument("archive", help="archive directory or URI")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--n", type=int, default=6, help="scans on the sheet (default 6)")
    return parser


def main(args: argparse.Namespace) -> int:
    """Write the sheet."""
    from scans.preview import archive_contact_sheet

    try:
        png = archive_contact_sheet(args.archive, args.n)
    except ArchiveError as err:
        print(f"dualscan preview: {err}", file=sys.stderr)
        return 2
    with open(args.out, "wb") as f:
        f.write(png)
    print(f"contact sheet: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
