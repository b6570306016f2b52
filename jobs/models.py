"""Entry point: the detectors that ship with DualScan and what each reached (`dualscan models`)."""

from __future__ import annotations

import argparse
import json
import sys

from jobs.commands import finished, summary_of


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the listing."""
    parser = argparse.ArgumentParser("dualscan models", add_help=add_help, description=summary_of("models"))
    parser.add_argument("--json", action="store_true", help="one JSON object per detector instead of text")
    return parser


def _number(value: float | None, digits: int, unit: str = "") -> str:
    return "—" if value is None else f"{value:.{digits}f}{unit}"


def main(args: argparse.Namespace) -> int:
    from models.shipped import SHIPPED_DETECTORS, headline

    for name in SHIPPED_DETECTORS:
        shown = headline(name)
        if args.json:
            print(json.dumps(shown))
            continue
        recall = shown["test_item_recall"]
        print(f"{name}  ({shown['path']}; world {shown['world']}) {shown['about']}\n"
              f"  its archive's test split, end to end on found items: object AUROC "
              f"{_number(shown['test_object_auroc'], 3)}, TP {_number(shown['test_object_tp_pct'], 1, ' %')}"
              f", FP {_number(shown['test_object_fp_pct'], 1, ' %')} at threshold "
              f"{_number(shown['threshold'], 3)}; items found {_number(recall and 100 * recall, 1, ' %')}\n"
              f"  use: --model {name}; rebuild: {' && '.join((shown['rebuild'] or '—').splitlines())}")
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
