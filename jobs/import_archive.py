"""Entry point: convert an external dataset layout into archive v1 (`dualscan import`)."""

from __future__ import annotations

import argparse
import sys

from jobs.commands import finished, summary_of
from scans.errors import ScanFormatError
from scans.exports import raw_scale_from_values
from scans.importers import IMPORTERS
from scans.splits import amend_archive, draw_splits


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the import job."""
    parser = argparse.ArgumentParser(
        "dualscan import", add_help=add_help,
        description=summary_of("import"),
    )
    parser.add_argument("format", choices=sorted(IMPORTERS), help="layout of the source folder")
    parser.add_argument("src", help="source folder")
    parser.add_argument("--out", required=True, help="archive directory or URI to write")
    parser.add_argument("--split", default="", choices=["train", "val", "test", "random", ""],
                        help="split written to the manifest: one for every scan, or `random`: a seeded "
                             "train/val/test split stratified by label (default: empty)")
    parser.add_argument("--val-fraction", type=float, metavar="F",
                        help="--split random: the share of scans in val (default 0.1)")
    parser.add_argument("--test-fraction", type=float, metavar="F",
                        help="--split random: the share of scans in test (default 0.3)")
    parser.add_argument("--seed", type=int, help="--split random: the draw's seed (default 0)")
    parser.add_argument("--pitch-mm", type=float, metavar="MM",
                        help="the detector pitch, recorded in archive.json (scoring warns when a model "
                             "saw another)")
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


def split_plan(args: argparse.Namespace) -> tuple[float, float, int] | None:
    """(val fraction, test fraction, seed) of ``--split random``, else None."""
    if args.split != "random":
        return None
    return (0.1 if args.val_fraction is None else args.val_fraction,
            0.3 if args.test_fraction is None else args.test_fraction, args.seed or 0)


def refusal(args: argparse.Namespace) -> str | None:
    """Why these arguments cannot run, before anything is written: a flag that does not act (on this
    format, or without --split random), bad fractions or pitch; None when they can."""
    drawn = [name for name in ("val_fraction", "test_fraction", "seed") if getattr(args, name) is not None]
    if drawn and args.split != "random":
        return f"--{drawn[0].replace('_', '-')} acts only with --split random"
    plan = split_plan(args)
    if plan is not None:
        try:
            draw_splits([], *plan)
        except ValueError as err:
            return str(err)
    if args.pitch_mm is not None and not args.pitch_mm > 0:
        return f"--pitch-mm must be above 0, got {args.pitch_mm}"
    given = {name for name in ("annotations", "part_categories", "raw_air", "raw_dark", "zeff_calibration",
                               "anomaly_categories") if getattr(args, name) not in (None, "")}
    refused = sorted(given - set(FORMAT_OPTIONS[args.format]))
    if refused:
        return (f"--{refused[0].replace('_', '-')} does not act on this format (it takes "
                f"{', '.join('--' + o.replace('_', '-') for o in FORMAT_OPTIONS[args.format])})")
    return None


def main(args: argparse.Namespace) -> int:
    """Run the importer, draw the splits and record the pitch asked for, and report what was written
    and skipped."""
    why = refusal(args)
    if why is not None:
        print(f"dualscan import {args.format}: {why}", file=sys.stderr)
        return 2
    options: dict = {"split": "" if args.split == "random" else args.split}
    for name in FORMAT_OPTIONS[args.format]:
        if name.endswith("categories"):
            options[name] = tuple(c.strip() for c in getattr(args, name).split(",") if c.strip())
        elif name not in ("raw_air", "raw_dark"):
            options[name] = getattr(args, name)
    try:
        if args.raw_air is not None or args.raw_dark is not None:
            options["raw_scale"] = raw_scale_from_values(args.raw_air, args.raw_dark)
        report = IMPORTERS[args.format](args.src, args.out, **options)
        counts = amend_archive(args.out, split_plan=split_plan(args), pitch_mm=args.pitch_mm)
    except (ScanFormatError, ValueError) as err:
        print(f"dualscan import: {err}", file=sys.stderr)
        return 2
    splits = ", ".join(f"{name} {n}" for name, n in counts.items() if n)
    print(f"archive: {report.archive}  ({report.written} scans{f': {splits}' if splits else ''}, "
          f"{len(report.skipped)} skipped)")
    for skipped in report.skipped:
        print(f"  skipped {skipped['file']}: {skipped['error']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
