"""Entry point: a finished report's counts, score histogram and top scans (`dualscan report-summary`)."""

from __future__ import annotations

import argparse
import sys

from jobs.commands import finished, summary_of


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the report summary."""
    parser = argparse.ArgumentParser(
        "dualscan report-summary", add_help=add_help,
        description=summary_of("report-summary"))
    parser.add_argument("report", metavar="REPORT_DIR", help="the report directory or URI")
    parser.add_argument("--top", type=int, default=10, help="scans to list (default 10)")
    parser.add_argument("--png", help="where to write the histogram PNG (default REPORT_DIR/summary.png)")
    return parser


def main(args: argparse.Namespace) -> int:
    from jobs.scoring.summary import summarise, summary_png, summary_text
    from scans.storage import locate

    report = locate(args.report)
    try:
        summary = summarise(report, args.top)
    except (OSError, ValueError, KeyError) as err:
        print(f"dualscan report-summary: {err}", file=sys.stderr)
        return 2
    print(summary_text(summary))
    png = summary_png(summary)
    if args.png:
        with open(args.png, "wb") as f:
            f.write(png)
        where = args.png
    else:
        report.write_bytes("summary.png", png)
        where = report.uri_of("summary.png")
    print(f"\nhistogram: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
