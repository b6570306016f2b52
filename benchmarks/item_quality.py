"""Quality of the item-first pipelines under one fair protocol, end to end on found items.

The bar's archive (``dualscan synth --n 3000 --size 512 --seed 2026``: 0.98 mm pitch, 60/10/30) or
any archive with a val split. One item stage (study/configs/quality.yaml's finder) is trained on
train and finds the items of val and test; its recall at IoU ≥ 0.5 and mask IoU are reported.
Each pipeline (sub-component, object-level) then trains on the same items with the same recipe
(steps, batch, augmentations); every ``eval_every`` steps val's found items are scored and val
chooses the item-score rule, the epoch and the threshold (val object FP% ≤ 5). Test is scored
once, end to end (a missed anomalous item is a miss, a spurious item benign) and on true items
(the classification-only bound). Reported: the bar's table with 95 % bootstrap intervals, per
kind, the paired bootstrap of the AUROC difference over the same test items, the learning curves
(val AUROC against steps, PNG), and the end-to-end latency per scan; each pipeline's chosen
weights are kept in DIR.

Run: .venv/bin/python -m benchmarks.item_quality --archive ARCHIVE --out DIR [--steps 3000]
         [--seeds 1] [--pipelines subcomponent object] [--modality hlz_log]
         [--val-scans N] [--test-scans N]   (score only each split's first N scans)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import numpy as np
import torch
from matplotlib.figure import Figure

from benchmarks.pipeline_quality import Run, fmt, report, save_runs
from models.items.scan import score_scan
from models.items.stage import load_finder
from models.model_dir import ITEM_STAGE_DIR
from pages.plots import png_of
from scans.archive import Archive
from scans.modalities import build_input
from study.config import load_config
from study.evaluation import kind_estimates, level_estimates
from study.items.stage import ensure_item_stage
from study.items.trial import ItemStudyData, load_item_study_data, train_item_trial
from study.points import first_point
from study.train import trial_from_config

CONFIG = os.path.join(os.path.dirname(__file__), "..", "study", "configs", "quality.yaml")
HARD_KINDS = ("blade", "metal_plate", "organic_block", "wire_bundle")


def train_pipeline(config, pipeline: str, seed: int, modality: str, data) -> tuple[Run, object, dict]:
    """One pipeline × seed by the recipe: its Run (test at the chosen epoch), the trained model
    (the chosen weights) and the final report."""
    choices = first_point(config.space)
    trial = trial_from_config(config, {**choices, "pipeline": pipeline, "modality": modality})
    seeded = config.model_copy(update={"training": config.training.model_copy(update={"seed": seed})})
    curve: list[dict] = []
    final: dict = {}
    start = time.perf_counter()

    def on_epoch(metrics: dict, state) -> None:
        curve.append({k: metrics[k] for k in ("epoch", "step", "train_seconds", "train_loss", "objective",
                                              "item_score", "val_segment_auroc")}
                     | {"wall_s": time.perf_counter() - start})
        print(f"{pipeline} seed {seed} step {metrics['step']} ({curve[-1]['wall_s']:.0f} s): loss "
              f"{metrics['train_loss']:.3f}, val AUROC {metrics['val_object_auroc']:.3f} "
              f"({metrics['item_score']}), segment {metrics['val_segment_auroc']:.3f}", flush=True)
        final.update(metrics=dict(metrics), scores=state.scores, model=state.model)

    train_item_trial(seeded, trial, on_epoch, data=data)
    m = final["metrics"]
    run = Run(pipeline, seed, len(curve), int(m["chosen_epoch"]), float(m["objective"]),
              float(m["threshold"]), time.perf_counter() - start, final["scores"]["test"], curve)
    return run, final["model"], final


def latency(stage: str, model, modality: str, rule: str, archive: Archive, ids: list[str]) -> dict:
    """End-to-end seconds per scan on this machine: decode to the modality inputs, find the
    items, score each item's superpixels (what ``dualscan score`` runs per scan)."""
    finder, spec = load_finder(stage)
    model.eval()
    decode, score = [], []
    for scan_id in ids:
        start = time.perf_counter()
        scan = archive.read(scan_id)
        image = torch.from_numpy(build_input(scan, modality))
        finder_image = torch.from_numpy(build_input(scan, spec["kwargs"]["modality"]))
        middle = time.perf_counter()
        score_scan(finder, model, image, finder_image, rule)
        decode.append(middle - start)
        score.append(time.perf_counter() - middle)
    return {"scans": len(ids), "decode_s": float(np.median(decode)), "score_s": float(np.median(score)),
            "total_s": float(np.median(np.add(decode, score)))}


def evaluated_on(data: ItemStudyData, val_scans: int | None, test_scans: int | None) -> ItemStudyData:
    """The study data with val and test (found and true items) cut to their first scans: every
    pipeline is scored on the same smaller sets when the CPU cannot afford whole splits."""
    def cut(items, n):
        return items if n is None else items.first_scans(n)

    return dataclasses.replace(data, val=cut(data.val, val_scans), val_true=cut(data.val_true, val_scans),
                               test=cut(data.test, test_scans), test_true=cut(data.test_true, test_scans))


def curves_png(runs: list[Run]) -> bytes:
    """Val object AUROC (the objective) against training steps, one line per pipeline × seed."""
    figure = Figure(figsize=(6.5, 3.6))
    axis = figure.subplots()
    for run in runs:
        axis.plot([c["step"] for c in run.curve], [c["objective"] for c in run.curve], marker="o", lw=1.2,
                  label=f"{run.pipeline} seed {run.seed}")
    axis.set_xlabel("training steps")
    axis.set_ylabel("val object AUROC (found items)")
    axis.set_ylim(0.4, 1.0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    axis.set_title("learning curves: val chooses the epoch", fontsize=9)
    return png_of(figure)


def bar_table(run: Run, bound) -> list[str]:
    """The bar's figures for one run: end to end on found items, and on true items."""
    e = level_estimates(run.test, run.threshold, "object")
    kinds = {k.kind: k for k in kind_estimates(run.test, run.threshold)}
    t = level_estimates(bound, run.threshold, "object") if bound is not None else None
    def row(name: str, metric: str, digits: int, target: str) -> str:
        bound_cell = fmt(t[metric], digits) if t else "—"
        return f"| {name} | {fmt(e[metric], digits)} | {bound_cell} | {target} |"

    lines = [f"| {run.pipeline} seed {run.seed} | end to end (found items) | true items (bound) | bar |",
             "|---|---|---|---|", row("object AUROC, all kinds", "auroc", 3, "≥ 0.93"),
             row("TP% at the val threshold", "tp_pct", 1, "≥ 85"),
             row("FP% at the val threshold", "fp_pct", 1, "≤ 7")]
    for kind in (*HARD_KINDS, "extra_screws"):
        if kind in kinds:
            target = "≥ 0.75" if kind == "extra_screws" else "≥ 0.97"
            lines.append(f"| AUROC {kind} (n {kinds[kind].n_items}) | {fmt(kinds[kind].auroc, 3)} | | "
                         f"{target} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", required=True, help="an archive with a val split")
    parser.add_argument("--out", required=True, help="item stage, cache, scores and the report go here")
    parser.add_argument("--config", default=CONFIG)
    parser.add_argument("--steps", type=int, help="overrides recipe.steps")
    parser.add_argument("--eval-every", type=int, help="overrides recipe.eval_every")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--pipelines", nargs="+", default=["subcomponent", "object"])
    parser.add_argument("--modality", default=None, help="default: the config's first")
    parser.add_argument("--latency-scans", type=int, default=20)
    parser.add_argument("--val-scans", type=int, help="score only val's first N scans (default all)")
    parser.add_argument("--test-scans", type=int, help="score only test's first N scans (default all)")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    os.makedirs(args.out, exist_ok=True)
    overrides = {"data.archive": os.path.abspath(args.archive), "data.cache": os.path.abspath(args.out),
                 "storage": os.path.abspath(args.out)}
    if args.steps:
        overrides["recipe.steps"] = args.steps
    if args.eval_every:
        overrides["recipe.eval_every"] = args.eval_every
    config = load_config(args.config, overrides)
    modality = args.modality or config.space.modalities[0]
    stage = os.path.join(os.path.abspath(args.out), ITEM_STAGE_DIR)
    started = time.perf_counter()
    config = ensure_item_stage(config, stage)
    with open(os.path.join(stage, "metrics.json"), encoding="utf-8") as f:
        stage_metrics = json.load(f)
    data = evaluated_on(load_item_study_data(config, modality), args.val_scans, args.test_scans)
    print(f"items: {json.dumps(data.summary())} ({time.perf_counter() - started:.0f} s with the stage)",
          flush=True)
    archive = Archive(config.data.archive)
    test_ids = [str(i) for i in data.test.scan_ids[: args.latency_scans]]
    header = [f"# Item-first quality: {archive.uri}", "",
              f"{json.dumps(data.summary())}; recipe {config.recipe.model_dump_json()}; modality {modality}; "
              f"torch threads {torch.get_num_threads()}", "", "## Item stage", "",
              "| split | true items | found | recall at IoU ≥ 0.5 | mask IoU | spurious | s/scan |",
              "|---|---|---|---|---|---|---|"]
    for split in ("val", "test"):
        g = {k.removeprefix(f"{split}_"): v for k, v in stage_metrics.items() if k.startswith(f"{split}_")}
        header.append(f"| {split} | {g['n_true']} | {g['n_found']} | {100 * (g['recall'] or 0):.2f} % | "
                      f"{g['mask_iou'] or float('nan'):.3f} | {g['spurious']} | "
                      f"{g['seconds_per_scan']:.3f} |")
    header += ["", f"finder trained in {stage_metrics['train_seconds']:.0f} s"]
    runs, sections = [], []
    for seed in range(args.seeds):
        for pipeline in args.pipelines:
            run, model, final = train_pipeline(config, pipeline, seed, modality, data)
            # the chosen weights, to look at its misses later (torch.load(..., weights_only=True))
            torch.save(model.state_dict(), os.path.join(args.out, f"{pipeline}-{modality}-seed{seed}.pt"))
            runs.append(run)
            section = ["", *bar_table(run, final["scores"].get("test_true"))]
            if pipeline == "subcomponent" and seed == 0:
                timing = latency(stage, model, modality, final["metrics"]["item_score"], archive, test_ids)
                section += ["", f"end-to-end latency per scan ({pipeline}, median of {timing['scans']} test "
                            f"scans): decode {timing['decode_s']:.2f} s + find and score "
                            f"{timing['score_s']:.2f} s = {timing['total_s']:.2f} s"]
            points = (f"{c['step']}: {c['objective']:.3f} ({c['item_score']}, {c['train_seconds']:.0f} s)"
                      for c in run.curve)
            section += ["", f"learning curve of {pipeline} seed {seed} (step: val AUROC): "
                        + ", ".join(points)]
            sections += section
            # written after every pipeline: a run cut short keeps what it finished
            save_runs(os.path.join(args.out, "quality_scores.npz"), runs)
            with open(os.path.join(args.out, "learning_curves.png"), "wb") as f:
                f.write(curves_png(runs))
            text = "\n".join([*header, f"wall so far {time.perf_counter() - started:.0f} s", "",
                              "## Pipelines", "", report(runs), *sections])
            with open(os.path.join(args.out, "quality.md"), "w", encoding="utf-8") as f:
                f.write(text + "\n")
            print(text, flush=True)


if __name__ == "__main__":
    main()
