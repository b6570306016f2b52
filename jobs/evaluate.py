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
                        help="model directory (RUN_DIR/best, or `dualscan train --out`) or a shipped "
                             "detector's name (`dualscan models`: quality, demo; a folder so named: ./NAME)")
    parser.add_argument("--archive", required=True, help="a labelled archive directory or URI")
    parser.add_argument("--split", default="test", help="the manifest split to judge (default test)")
    parser.add_argument("--runtime", choices=("torch", "onnx"), default="torch",
                        help="what runs the model's networks: PyTorch, or ONNX Runtime from the files "
                             "`dualscan export-model MODEL OUT --onnx` writes")
    parser.add_argument("--out", help="also write the figures as JSON here (e.g. REPORT_DIR/evaluation.json: "
                        "`dualscan report-html` shows them)")
    return parser


def _figure(estimate: dict, digits: int) -> str:
    value = estimate["value"]
    return "—" if value is None else f"{value:.{digits}f}"


def group_line(group: dict) -> str:
    """One group's figures (an item class, or seen or unseen designs) and its kinds' AUROC."""
    kinds = ", ".join(f"{k['kind']} {_figure(k['auroc'], 2)}" for k in group["kinds"])
    return (f"{group['group']}: AUROC {_figure(group['auroc'], 3)}, AP {_figure(group['ap'], 3)}, "
            f"TP {_figure(group['tp_pct'], 1)} %, FP {_figure(group['fp_pct'], 1)} % ({group['n_items']} "
            f"items, {group['n_anomalous']} anomalous){f'; {kinds}' if kinds else ''}")


def main(args: argparse.Namespace) -> int:
    from models.shipped import resolve_model
    from scans.errors import ArchiveError
    from scans.storage import locate
    from study.items.judge import evaluate_model

    try:
        evaluation = evaluate_model(resolve_model(args.model), args.archive, args.split, runtime=args.runtime)
    except (ArchiveError, ValueError, OSError) as err:
        print(f"dualscan evaluate: {err}", file=sys.stderr)
        return 2
    print(evaluation.line())
    for kind in evaluation.kinds:
        auroc = kind["auroc"]["value"]
        print(f"  {kind['kind']}: AUROC {'—' if auroc is None else f'{auroc:.3f}'} (n {kind['n_items']})")
    for title, groups in (("per item class", evaluation.classes), ("designs", evaluation.designs)):
        if len(groups) > 1 or (title == "designs" and groups):
            print(f"{title}:")
            for group in groups:
                print(f"  {group_line(group)}")
    if args.out:
        folder, name = posixpath.split(args.out.rstrip("/"))
        where = locate(folder or ".")
        where.makedirs()
        where.write_bytes(name, evaluation.as_json())
        print(f"evaluation: {where.uri_of(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
