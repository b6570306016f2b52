"""Entry point: convert an external dataset layout into archive v1 (`dualscan import`)."""

from __future__ import annotations

import argparse
import sys

from jobs.commands import finished, summary_of
from scans.errors import ScanFormatError
from scans.exports import raw_scale_from_values
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
    parser.add_argument("--annotations",
                        help="coco, dual-energy: COCO JSON (default: the folder's first .json)")
    parser.add_argument("--anomaly-categories", default="",
                        help="coco, dual-energy: comma-separated category names that are anomalies")
    parser.add_argument("--part-categories", default="",
                        help="dual-energy: comma-separated category names that are items' sub-components "
                             "(default none: each item is one part, and learned SSN features refuse it)")
    parser.add_argument("--raw-air", type=float, metavar="V",
                        help="dual-energy: raw images' value with nothing in the beam (default: the folder's "
                             "raw_scale.json, else the bit depth's full scale)")
    parser.add_argument("--raw-dark", type=float, metavar="V",
                        help="dual-energy: raw images' value with the beam off (default 0)")
    parser.add_argument("--zeff-calibration", metavar="FILE",
                        help="compass, dual-energy: the scanner's effective-Z calibration (docs/formats.md) "
                             "to derive Z_eff at import where a scan brings none; `simulator` for scans the "
                             "simulator made (default: the folder's zeff_calibration.json, else no Z)")
    return parser


# the options each format takes beyond --split, by flag
FORMAT_OPTIONS = {"coco": ("annotations", "anomaly_categories"), "compass": ("zeff_calibration",),
                  "dual-energy": ("annotations", "anomaly_categories", "part_categories", "raw_air",
                                  "raw_dark", "zeff_calibration")}


def main(args: argparse.Namespace) -> int:
    """Run the importer and report what was written and skipped."""
    given = {name for name in ("annotations", "part_categories", "raw_air", "raw_dark", "zeff_calibration",
                               "anomaly_categories") if getattr(args, name) not in (None, "")}
    refused = sorted(given - set(FORMAT_OPTIONS[args.format]))
    if refused:
        print(f"dualscan import {args.format}: --{refused[0].replace('_', '-')} does not act on this format "
              f"(it takes {', '.join('--' + o.replace('_', '-') for o in FORMAT_OPTIONS[args.format])})",
              file=sys.stderr)
        return 2
    options: dict = {"split": args.split}
    for name in FORMAT_OPTIONS[args.format]:
        if name.endswith("categories"):
            options[name] = tuple(c.strip() for c in getattr(args, name).split(",") if c.strip())
        elif name not in ("raw_air", "raw_dark"):
            options[name] = getattr(args, name)
    try:
        if args.raw_air is not None or args.raw_dark is not None:
            options["raw_scale"] = raw_scale_from_values(args.raw_air, args.raw_dark)
        report = IMPORTERS[args.format](args.src, args.out, **options)
    except (ScanFormatError, ValueError) as err:
        print(f"dualscan import: {err}", file=sys.stderr)
        return 2
    print(f"archive: {report.archive}  ({report.written} scans, {len(report.skipped)} skipped)")
    for skipped in report.skipped:
        print(f"  skipped {skipped['file']}: {skipped['error']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
