"""Entry point: judge a trained item-first model on a labelled archive split (`dualscan evaluate`)."""

from __future__ import annotations

import argparse
import posixpath
import sys

from jobs.commands import finished, summary_of


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the evaluation."""
    parser = argparse.ArgumentParser("dualscan evaluate", add_help=add_help,
                                     description=summary_of("evaluate"))
    parser.add_argument("--model", required=True,
                        help="model directory (RUN_DIR/best, or `dualscan train --out`)")
    parser.add_argument("--archive", required=True, help="a labelled archive directory or URI")
    parser.add_argument("--split", default="test", help="the manifest split to judge (default test)")
    parser.add_argument("--out", help="also write the figures as JSON here (e.g. REPORT_DIR/evaluation.json: "
                        "`dualscan report-html` shows them)")
    return parser


def main(args: argparse.Namespace) -> int:
    from scans.errors import ArchiveError
    from scans.storage import locate
    from study.items.judge import evaluate_model

    try:
        evaluation = evaluate_model(args.model, args.archive, args.split)
    except (ArchiveError, ValueError, OSError) as err:
        print(f"dualscan evaluate: {err}", file=sys.stderr)
        return 2
    print(evaluation.line())
    for kind in evaluation.kinds:
        auroc = kind["auroc"]["value"]
        print(f"  {kind['kind']}: AUROC {'—' if auroc is None else f'{auroc:.3f}'} (n {kind['n_items']})")
    if args.out:
        folder, name = posixpath.split(args.out.rstrip("/"))
        where = locate(folder or ".")
        where.makedirs()
        where.write_bytes(name, evaluation.as_json())
        print(f"evaluation: {where.uri_of(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
