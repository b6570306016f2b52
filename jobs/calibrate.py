"""Entry point: calibrate an item-first model's item scores on a labelled val split (`dualscan calibrate`)."""

from __future__ import annotations

import argparse
import sys

from jobs.commands import finished, summary_of


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the calibration."""
    parser = argparse.ArgumentParser("dualscan calibrate", add_help=add_help,
                                     description=summary_of("calibrate"))
    parser.add_argument("--model", required=True, help="model directory (written in place)")
    parser.add_argument("--archive", required=True, help="a labelled archive with the split to fit on")
    parser.add_argument("--split", default="val", help="the split to fit on (default val; never test)")
    parser.add_argument("--seed", type=int, default=0, help="the cross-validation folds' seed (default 0)")
    return parser


def main(args: argparse.Namespace) -> int:
    from models.calibration import describe_calibration
    from scans.errors import ArchiveError
    from study.items.calibrate import calibrate_model

    try:
        calibration, raw, threshold = calibrate_model(args.model, args.archive, args.split, args.seed)
    except (ArchiveError, ValueError, OSError) as err:
        print(f"dualscan calibrate: {err}", file=sys.stderr)
        return 2
    print(f"{args.model}: item scores are {describe_calibration(calibration and calibration.as_dict())}; "
          f"threshold {raw:.3f} (raw) is {threshold:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
