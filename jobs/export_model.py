"""Entry point: copy what scoring needs of a trained model directory and write its model card
(`dualscan export-model`): how `make demo-model` packs the shipped demo model."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

from jobs.commands import finished, summary_of
from models.model_dir import ITEM_STAGE_DIR, SCORING_FILES, WEIGHTS_FILE, ModelDirectory

# what `dualscan score` and `dualscan evaluate` read; optimizer state, schedules and found items stay
FILES = (*SCORING_FILES, *(f"{ITEM_STAGE_DIR}/{name}" for name in SCORING_FILES))


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the export."""
    parser = argparse.ArgumentParser("dualscan export-model", add_help=add_help,
                                     description=summary_of("export-model"))
    parser.add_argument("model", metavar="MODEL_DIR",
                        help="a trained model directory (`dualscan train --out`)")
    parser.add_argument("out", metavar="OUT_DIR", help="where to write the scoring files and model_card.md")
    parser.add_argument("--rebuild", default="", help="the command that rebuilds it, for the model card")
    parser.add_argument("--half", action="store_true",
                        help="store the weights as float16 (half the bytes; loaded back into float32)")
    return parser


def sha256_of(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _wall_time(metrics: dict, stage: dict) -> list[str]:
    """The card's lines on what training cost: the item stage's training and the whole command."""
    lines = []
    if isinstance(stage.get("train_seconds"), int | float):
        lines.append(f"Item stage trained in {stage['train_seconds']:.0f} s.")
    if isinstance(metrics.get("command_seconds"), int | float):
        lines.append(f"The whole training command (item stage, training, val and test) took "
                     f"{metrics['command_seconds']:.0f} s ({metrics['command_seconds'] / 3600:.2f} h).")
    return [" ".join(lines), ""] if lines else []


def model_card(out: str, rebuild: str, half: bool = False) -> str:
    """The card: what the model is, the figures val and test gave during training, every file's sha256."""
    config, metrics, stage = (_json(os.path.join(out, name))
                              for name in ("config.json", "metrics.json", "items/metrics.json"))
    trial, study, data = config["trial"], config["study"], config.get("data", {})

    def fig(name: str, digits: int = 3) -> str:
        value = metrics.get(name)
        return "—" if not isinstance(value, int | float) else f"{value:.{digits}f}"

    lines = [f"# DualScan model: {trial['pipeline']} · {trial['backbone']} · {trial['modality']}", "",
             f"Item stage: {study['items']['finder']} finder ({study['items'].get('encoder', 'resnet18')} "
             f"encoder, scans shrunk {study['items'].get('scale')}×); K {trial['k']} superpixels per item; "
             f"pixel pitch {data.get('input_pitch_mm', 0):.3g} mm.", "",
             f"Trained {metrics.get('step')} steps ({metrics.get('train_seconds', 0):.0f} s); val chose step "
             f"{metrics.get('chosen_epoch', 0) * study['recipe']['eval_every']}, item score "
             f"`{metrics.get('item_score')}` and threshold {metrics.get('threshold', 0):.4f} "
             f"(val object FP% ≤ {study['objective']['fp_target']}).", "",
             *_wall_time(metrics, stage),
             "Its training archive's test split, end to end on found items, at that threshold:", "",
             "| object AUROC | TP% | FP% | true-item bound AUROC | item recall (test) |",
             "|---|---|---|---|---|",
             f"| {fig('test_object_auroc')} | {fig('test_object_tp_pct', 1)} "
             f"| {fig('test_object_fp_pct', 1)} | {fig('true_test_object_auroc')} "
             f"| {100 * stage.get('test_recall', 0):.1f} % |", ""]
    if rebuild:
        lines += ["Rebuild:", "", "```", rebuild, "```", ""]
    if half:
        lines += ["Weights are stored as float16 and loaded back into float32.", ""]
    lines += ["| file | bytes | sha256 |", "|---|---|---|"]
    for name in FILES:
        path = os.path.join(out, name)
        lines.append(f"| {name} | {os.path.getsize(path)} | {sha256_of(path)} |")
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    missing = [name for name in FILES if not os.path.isfile(os.path.join(args.model, name))]
    if missing:
        print(f"dualscan export-model: {args.model} lacks {', '.join(missing)}", file=sys.stderr)
        return 2
    ModelDirectory(args.model).copy_to(ModelDirectory(args.out), half=args.half)
    with open(os.path.join(args.out, "model_card.md"), "w", encoding="utf-8") as f:
        f.write(model_card(args.out, args.rebuild, args.half))
    size = sum(os.path.getsize(os.path.join(args.out, name)) for name in FILES)
    digest = ModelDirectory(args.out).sha256()
    print(f"model: {args.out} ({size / 1e6:.2f} MB, sha256 of {WEIGHTS_FILE} {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
