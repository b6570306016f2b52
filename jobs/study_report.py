"""Entry point: rebuild a study's results/ and best/ from its run directory (`dualscan study-report`)."""

from __future__ import annotations

import argparse
import sys

from jobs.commands import finished, summary_of


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the report job."""
    parser = argparse.ArgumentParser(
        "dualscan study-report", add_help=add_help,
        description=summary_of("study-report"))
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the study's run directory or URI")
    return parser


def main(args: argparse.Namespace) -> int:
    from study.report import export_best, write_results

    try:
        print(write_results(args.run_dir))
        card = export_best(args.run_dir)
    except (OSError, ValueError, KeyError) as err:
        print(f"{args.run_dir}: cannot build the report ({err})", file=sys.stderr)
        return 2
    metric = card["objective"].get("metric", "object_auroc")
    level, name = metric.split("_", 1)
    test = card["test"].get(level, {}).get(name, {})
    interval = (f" [{test['low']:.3f}, {test['high']:.3f}]"
                if test.get("low") is not None and test.get("high") is not None else "")
    value = f"{test['value']:.4f}" if test.get("value") is not None else "—"
    print(f"best by val: {card['source_checkpoint']} (val {metric} {card['val_objective']:.4f}; test "
          f"{value}{interval} at threshold {card['threshold']:.4f}) → {args.run_dir}/best/")
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
