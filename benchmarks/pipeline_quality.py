"""Quality: the whole-scan pipelines under one fair protocol: val chooses, test reports
(the item-first ones: benchmarks/item_quality.py).

A seeded synthetic archive with train/val/test (default 2,000 scans at 512², the 50 cm tray at
0.98 mm, a real scanner's pitch; 60/10/30). Each pipeline (names from the PIPELINES registry) is
trained by study.train (no Ray) with the same budget: the same epochs, or the same wall time per
training seed. After every epoch it is scored on val and test; the epoch with the best val object
AUROC is chosen, and its operating threshold is the one keeping val object FP% ≤ 5. Reported on
test, at that epoch and threshold: object AUROC, TP% and FP%, each with a 95 % bootstrap interval
over items, AUROC per anomaly kind, and between two pipelines the paired bootstrap of their AUROC
difference over the same test items. ``--seeds N`` trains N seeds and gives mean ± sd.

Run: .venv/bin/python -m benchmarks.pipeline_quality [--n 2000] [--size 512] [--epochs 4 | --minutes M]
         [--seeds 3] [--pipelines ssn maskrcnn] [--modality hlz] [--backbone resnet18]
     .venv/bin/python -m benchmarks.pipeline_quality --scores OUT/quality_scores.npz   (the tables again)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import torch

from models.intervals import interval_of, paired_difference
from scans.synth import SynthConfig, synthesise
from study.config import parse_config
from study.data import load_study_data
from study.evaluation import Estimate, LevelScores, kind_estimates, level_estimates
from study.pipelines import PIPELINES
from study.train import train, trial_from_config

SEED_ARCHIVE = 2024
FP_TARGET = 5.0
# per pipeline: the choices it trains with (the rest are the study defaults)
SETTINGS = {"ssn": {"k": 400, "mode": "pool", "ssn_feature": "pixel", "optimizer": "adam", "lr": 1e-3,
                    "batch_size": 16},
            "maskrcnn": {"optimizer": "adam", "lr": 1e-4, "batch_size": 8}}


class BudgetSpentError(Exception):
    """Raised after an epoch once a pipeline's wall-time budget is used up."""


@dataclass
class Run:
    """One pipeline × seed: the epoch val chose, its threshold and its test object scores."""

    pipeline: str
    seed: int
    epochs_run: int
    chosen_epoch: int
    val_auroc: float
    threshold: float
    wall_s: float
    test: LevelScores
    curve: list[dict]


def train_one(config, pipeline: str, seed: int, args, data) -> Run:
    """Train one pipeline for the budget; keep the test scores of the epoch val ranks best."""
    trial = trial_from_config(config, {"pipeline": pipeline, "backbone": args.backbone,
                                       "modality": args.modality, **SETTINGS.get(pipeline, {})})
    best: dict = {}
    curve: list[dict] = []
    start = time.perf_counter()

    def on_epoch(metrics: dict, state) -> None:
        elapsed = time.perf_counter() - start
        kept = ("epoch", "train_loss", "objective", "threshold", "test_object_auroc", "val_object_fp_pct")
        curve.append({k: metrics[k] for k in kept} | {"wall_s": elapsed})
        if not best or metrics["objective"] >= best["metrics"]["objective"]:
            best.update(metrics=dict(metrics), test=state.scores["test"])
        print(f"{pipeline} seed {seed} epoch {metrics['epoch']} ({elapsed:.0f} s): train loss "
              f"{metrics['train_loss']:.3f}, val AUROC {metrics['val_object_auroc']:.3f}, "
              f"test AUROC {metrics['test_object_auroc']:.3f} (record only)", flush=True)
        if args.minutes is not None and elapsed > 60 * args.minutes:
            raise BudgetSpentError

    seeded = config.model_copy(update={"training": config.training.model_copy(update={"seed": seed})})
    with contextlib.suppress(BudgetSpentError):
        train(seeded, trial, on_epoch, data=data)
    m = best["metrics"]
    return Run(pipeline, seed, len(curve), int(m["epoch"]), float(m["objective"]), float(m["threshold"]),
               time.perf_counter() - start, best["test"], curve)


def paired_auroc_difference(labels: np.ndarray, first: np.ndarray, second: np.ndarray,
                            scans: np.ndarray | None = None, rounds: int = 2000) -> np.ndarray:
    """AUROC(first) − AUROC(second) on the same test items, resampling the same scans for both
    (``scans``: each item's scan; None: each item alone)."""
    return paired_difference(labels, first, second, scans, rounds=rounds, seed=1)


def fmt(estimate: Estimate, digits: int) -> str:
    """``value [low, high]``; a dash where undefined."""
    value, low, high = estimate.value, estimate.interval.low, estimate.interval.high
    if value is None:
        return "—"
    text = f"{value:.{digits}f}"
    return text if low is None or high is None else f"{text} [{low:.{digits}f}, {high:.{digits}f}]"


def report(runs: list[Run]) -> str:
    """Markdown: one row per pipeline × seed, mean ± sd over seeds, per kind, paired differences."""
    lines = ["| pipeline | seed | epochs run | chosen epoch | val AUROC | threshold | test AUROC [95 %] | "
             "TP% at val FP ≤ 5 % | FP% | wall s |", "|---|---|---|---|---|---|---|---|---|---|"]
    estimates = {id(r): level_estimates(r.test, r.threshold, "object") for r in runs}
    per_kind = {id(r): {k.kind: k for k in kind_estimates(r.test, r.threshold)} for r in runs}
    for r in runs:
        e = estimates[id(r)]
        lines.append(f"| {r.pipeline} | {r.seed} | {r.epochs_run} | {r.chosen_epoch} | {r.val_auroc:.3f} | "
                     f"{r.threshold:.4f} | {fmt(e['auroc'], 3)} | {fmt(e['tp_pct'], 1)} | "
                     f"{fmt(e['fp_pct'], 1)} | {r.wall_s:.0f} |")
    pipelines = list(dict.fromkeys(r.pipeline for r in runs))
    if len({r.seed for r in runs}) > 1:
        lines += ["", "| pipeline | seeds | test AUROC mean ± sd | TP% mean ± sd | FP% mean ± sd |",
                  "|---|---|---|---|---|"]
        for p in pipelines:
            mine = [estimates[id(r)] for r in runs if r.pipeline == p]
            stats = []
            for name in ("auroc", "tp_pct", "fp_pct"):
                v = np.array([np.nan if e[name].value is None else e[name].value for e in mine])
                stats.append((np.nanmean(v), np.nanstd(v, ddof=1)))
            lines.append(f"| {p} | {len(mine)} | {stats[0][0]:.3f} ± {stats[0][1]:.3f} | "
                         f"{stats[1][0]:.1f} ± {stats[1][1]:.1f} | {stats[2][0]:.1f} ± {stats[2][1]:.1f} |")
    kinds = sorted({kind for by_kind in per_kind.values() for kind in by_kind})
    if kinds:
        lines += ["", "Test AUROC per anomaly kind (each kind's items against every benign item), "
                  "TP% at the val threshold in brackets:", "",
                  "| pipeline | seed | " + " | ".join(kinds) + " |", "|---|---|" + "---|" * len(kinds)]
        for r in runs:
            by_kind = per_kind[id(r)]
            cells = [f"{by_kind[k].auroc.value:.3f} ({by_kind[k].tp_pct.value:.0f} %, n {by_kind[k].n_items})"
                     if k in by_kind and by_kind[k].auroc.value is not None else "—" for k in kinds]
            lines.append(f"| {r.pipeline} | {r.seed} | " + " | ".join(cells) + " |")
    for i, a in enumerate(pipelines):
        for b in pipelines[i + 1:]:
            for seed in sorted({r.seed for r in runs}):
                ra = next(r for r in runs if r.pipeline == a and r.seed == seed)
                rb = next(r for r in runs if r.pipeline == b and r.seed == seed)
                labels, sa = ra.test.arrays("object")
                labels_b, sb = rb.test.arrays("object")
                same = (np.array_equal(labels, labels_b)
                        and np.array_equal(ra.test.object_kinds(), rb.test.object_kinds()))
                if not same:  # both score every test item with pixels, in order: this should hold
                    lines.append(f"\n{a} and {b} (seed {seed}) scored different items: no paired bootstrap")
                    continue
                diffs = paired_auroc_difference(labels, sa, sb, ra.test.scan_ids("object"))
                ci = interval_of(diffs)
                lines.append(f"\nseed {seed}: AUROC {a} − {b} over the same {labels.size} test items, paired "
                             f"bootstrap over scans (2,000 rounds): {np.nanmean(diffs):+.3f}, 95 % interval "
                             f"[{ci.low:+.3f}, {ci.high:+.3f}]; share of rounds with {a} not above {b}: "
                             f"{np.mean(diffs <= 0):.3f}")
    return "\n".join(lines)


def save_runs(path: str, runs: list[Run]) -> None:
    arrays = {}
    for r in runs:
        for key, value in r.test.flat(f"{r.pipeline}/{r.seed}/").items():
            arrays[key] = value
        arrays[f"{r.pipeline}/{r.seed}/meta"] = np.array(json.dumps(
            {k: getattr(r, k) for k in ("pipeline", "seed", "epochs_run", "chosen_epoch", "val_auroc",
                                        "threshold", "wall_s", "curve")}))
    np.savez_compressed(path, **arrays)


def load_runs(path: str) -> list[Run]:
    with np.load(path, allow_pickle=False) as npz:
        metas = [k for k in npz.files if k.endswith("/meta")]
        runs = []
        for key in metas:
            prefix = key.removesuffix("meta")
            meta = json.loads(str(npz[key]))
            runs.append(Run(test=LevelScores.from_flat(npz, prefix), **meta))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--size", type=int, default=512, help="archive side (512: 0.98 mm at the 50 cm tray)")
    parser.add_argument("--image-size", type=int, help="the models' input side (default: --size)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, help="the same epochs for every pipeline (default 4)")
    budget.add_argument("--minutes", type=float, help="the same wall time per pipeline and seed")
    parser.add_argument("--seeds", type=int, default=1, help="training seeds (0, 1, ...)")
    whole_scan = [name for name in PIPELINES if not PIPELINES[name].item_first]  # item-first: item_quality
    parser.add_argument("--pipelines", nargs="+", default=whole_scan, choices=whole_scan)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--modality", default="hlz")
    parser.add_argument("--archive", help="reuse this archive (it needs a val split)")
    parser.add_argument("--out", help="where the archive, cache and scores go (default: a temp dir)")
    parser.add_argument("--scores", help="print the tables from an earlier run's quality_scores.npz")
    args = parser.parse_args()
    if args.scores:
        print(report(load_runs(args.scores)))
        return
    torch.set_num_threads(os.cpu_count() or 1)
    out = args.out or tempfile.mkdtemp(prefix="dualscan-quality-")
    os.makedirs(out, exist_ok=True)
    archive = args.archive or os.path.join(out, "archive")
    if not args.archive:
        start = time.perf_counter()
        synthesise(SynthConfig(n=args.n, size=args.size, seed=SEED_ARCHIVE, split=0.7, val=0.1,
                               previews=False), archive, progress=False)
        print(f"archive: {archive} ({args.n} scans at {args.size}², seed {SEED_ARCHIVE}, "
              f"{time.perf_counter() - start:.0f} s)", flush=True)
    epochs = args.epochs if args.epochs is not None else (1000 if args.minutes is not None else 4)
    config = parse_config({
        "name": "quality", "storage": out,
        "data": {"archive": archive, "image_size": args.image_size or args.size, "cache": out},
        "space": {"epochs": epochs, "anomaly_fractions": [0.25]},
        "objective": {"metric": "object_auroc", "fp_target": FP_TARGET},
        "training": {"crop_size": 64}})
    data = load_study_data(config.data, args.modality)
    budget_text = f"{args.minutes} min wall time" if args.minutes is not None else f"{epochs} epochs"
    print(f"{len(data.train)} train / {len(data.val)} val / {len(data.test)} test scans, model input "
          f"{config.data.image_size}² ({data.input_pitch_mm or float('nan'):.2f} mm), {args.modality}, "
          f"{args.backbone}, {budget_text} per pipeline and seed, torch threads {torch.get_num_threads()}",
          flush=True)
    runs = [train_one(config, pipeline, seed, args, data) for seed in range(args.seeds)
            for pipeline in args.pipelines]
    path = os.path.join(out, "quality_scores.npz")
    save_runs(path, runs)
    print(f"\nscores: {path}\n")
    print(report(runs))


if __name__ == "__main__":
    main()
