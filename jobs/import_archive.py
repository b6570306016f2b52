"""Entry point: convert an external dataset layout into archive v1 (`dualscan import`)."""

from __future__ import annotations

import argparse
import sys

from jobs.commands import finished, summary_of
from scans.errors import ScanFormatError
from scans.importers import IMPORTERS


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the import job."""
    parser = argparse.ArgumentParser(
        "dualscan import", add_help=add_help,
        description=summary_of("import"),
    )
    parser.add_argument("format", choices=sorted(IMPORTERS), help="layout of the source folder")
    parser.add_argument("src", help="source folder")
    parser.add_argument("--out", required=True, help="archive directory or URI to write")
    parser.add_argument("--split", default="", choices=["train", "val", "test", ""],
                        help="split written to the manifest (default: empty)")
    parser.add_argument("--annotations", help="coco: COCO JSON (default: the folder's first .json)")
    parser.add_argument("--anomaly-categories", default="",
                        help="coco: comma-separated category names that are anomalies")
    return parser


def main(args: argparse.Namespace) -> int:
    """Run the importer and report what was written and skipped."""
    options = {"split": args.split}
    if args.format == "coco":
        options["annotations"] = args.annotations
        options["anomaly_categories"] = tuple(c for c in args.anomaly_categories.split(",") if c)
    try:
        report = IMPORTERS[args.format](args.src, args.out, **options)
    except ScanFormatError as err:
        print(f"dualscan import: {err}", file=sys.stderr)
        return 2
    print(f"archive: {report.archive}  ({report.written} scans, {len(report.skipped)} skipped)")
    for skipped in report.skipped:
        print(f"  skipped {skipped['file']}: {skipped['error']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
