"""Entry point: a finished report as a static HTML page with its images (`dualscan report-html`)."""

from __future__ import annotations

import argparse
import sys

from jobs.commands import finished, summary_of


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the report page."""
    parser = argparse.ArgumentParser("dualscan report-html", add_help=add_help,
                                     description=summary_of("report-html"))
    parser.add_argument("report", metavar="REPORT_DIR", help="the report directory or URI")
    parser.add_argument("--top", type=int, default=10, help="scans in the top table (default 10)")
    return parser


def main(args: argparse.Namespace) -> int:
    from jobs.scoring.report_page import write_report_page

    try:
        uri = write_report_page(args.report, args.top)
    except (OSError, ValueError, KeyError) as err:
        print(f"dualscan report-html: {err}", file=sys.stderr)
        return 2
    print(f"report page: {uri}")
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
