"""Quality: the SSN sub-component pipeline against the Mask R-CNN object-level pipeline.

A seeded synthetic archive (default 2,000 scans at 128², 70:30 train/test), both pipelines
trained with the same small classifier backbone and epochs by study.train (no Ray), then scored on
the test split at object level: TP% and FP% at threshold 0.5, AUROC, and each pipeline's FP% at
the TP% the other reaches (read off its ROC), so the two are compared at equal TP%.

Run: .venv/bin/python -m benchmarks.pipeline_quality [--n 2000] [--size 128] [--epochs 4]
     .venv/bin/python -m benchmarks.pipeline_quality --scores TMP/object_scores.npz   (the table again)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import torch

from models.metrics import binary_metrics
from scans.synth import SynthConfig, synthesise
from study.config import parse_config
from study.data import load_study_data
from study.train import score_split, train, trial_from_config


def fp_at_tp(labels: np.ndarray, scores: np.ndarray, tp_pct: float) -> float:
    """The lowest FP% of any threshold whose TP% is at least ``tp_pct``."""
    labels = np.asarray(labels, dtype=bool)
    positives = np.sort(scores[labels])[::-1]
    needed = int(np.ceil(tp_pct / 100 * positives.size - 1e-9))
    if needed == 0:
        return 0.0
    return float(100 * (scores[~labels] >= positives[needed - 1]).mean())


def paired_bootstrap(labels: np.ndarray, ssn: np.ndarray, maskrcnn: np.ndarray, rounds: int = 2000,
                     seed: int = 0) -> np.ndarray:
    """Mask R-CNN's FP% at 0.5 minus SSN's FP% at Mask R-CNN's TP%, on items resampled with
    replacement (the same items for both pipelines), ``rounds`` times."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=bool)
    out = np.empty(rounds)
    for i in range(rounds):
        index = rng.integers(0, labels.size, labels.size)
        chosen, flagged = labels[index], maskrcnn[index] >= 0.5
        tp_pct = 100 * flagged[chosen].mean()
        out[i] = 100 * flagged[~chosen].mean() - fp_at_tp(chosen, ssn[index], tp_pct)
    return out


def print_table(results: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """The object-level comparison at equal TP%, with a paired bootstrap of the FP% difference."""
    print("\n| pipeline | TP% @0.5 | FP% @0.5 | AUROC | FP% at the other's TP% |")
    print("|---|---|---|---|---|")
    at_half = {p: binary_metrics(*results[p], 0.5) for p in results}
    for pipeline, other in (("ssn", "maskrcnn"), ("maskrcnn", "ssn")):
        m = at_half[pipeline]
        matched = fp_at_tp(*results[pipeline], at_half[other].tp_pct or 0.0)
        print(f"| {pipeline} | {m.tp_pct:.1f} | {m.fp_pct:.1f} | {m.auroc:.3f} | {matched:.1f} "
              f"(at TP% {at_half[other].tp_pct:.1f}) |")
    labels = results["ssn"][0]
    if not np.array_equal(labels, results["maskrcnn"][0]):
        print("the pipelines scored different items: no paired bootstrap")
        return
    diffs = paired_bootstrap(labels, results["ssn"][1], results["maskrcnn"][1])
    low, high = np.percentile(diffs, [2.5, 97.5])
    print(f"\nMask R-CNN FP% minus SSN FP% at equal TP%, paired bootstrap over {labels.size} items "
          f"(2000 rounds): mean {diffs.mean():.1f}, 95 % interval [{low:.1f}, {high:.1f}], "
          f"share of rounds where SSN is not lower: {(diffs <= 0).mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--archive", help="reuse this archive instead of synthesising one")
    parser.add_argument("--pipelines", nargs="+", default=["ssn", "maskrcnn"])
    parser.add_argument("--scores", help="print the table from an earlier run's object_scores.npz")
    args = parser.parse_args()
    if args.scores:
        with np.load(args.scores, allow_pickle=False) as saved:
            print_table({p: (saved[f"{p}_labels"], saved[f"{p}_scores"]) for p in ("ssn", "maskrcnn")})
        return
    torch.set_num_threads(os.cpu_count() or 1)
    tmp = tempfile.mkdtemp(prefix="dualscan-quality-")
    archive = args.archive or os.path.join(tmp, "archive")
    if not args.archive:
        synthesise(SynthConfig(n=args.n, size=args.size, seed=2024, split=0.7), archive, progress=False)
    config = parse_config({
        "name": "quality", "storage": tmp,
        "data": {"archive": archive, "image_size": args.size, "split": "manifest", "cache": tmp},
        "space": {"epochs": args.epochs}, "training": {"crop_size": 64, "anomaly_fraction": 0.25}})
    data = load_study_data(config.data, "pseudo")
    print(f"{len(data.train)} train / {len(data.test)} test scans at {args.size}², pseudo-colour, "
          f"{args.backbone}, {args.epochs} epochs, torch threads {torch.get_num_threads()}", flush=True)
    settings = {"ssn": {"k": 400, "mode": "pool", "ssn_feature": "pixel", "optimizer": "adam", "lr": 1e-3,
                        "batch_size": 16},
                "maskrcnn": {"optimizer": "adam", "lr": 1e-4, "batch_size": 8}}
    results = {}
    for pipeline in args.pipelines:
        choices = settings[pipeline]
        trial = trial_from_config(config, {"pipeline": pipeline, "backbone": args.backbone,
                                           "modality": "pseudo", **choices})
        kept = {}
        start = time.time()

        def on_epoch(metrics, state, kept=kept, pipeline=pipeline, start=start):
            kept["model"] = state.model
            shown = {k: round(metrics[k], 3) for k in ("train_loss", "object_tp_pct", "object_fp_pct",
                                                       "object_auroc")}
            print(f"{pipeline} epoch {metrics['epoch']} ({time.time() - start:.0f} s): {json.dumps(shown)}",
                  flush=True)

        train(config, trial, on_epoch, data=data)
        scores = score_split(trial, kept["model"], data.test, torch.device("cpu"), amp=False)
        results[pipeline] = scores.arrays("object")
    np.savez(os.path.join(tmp, "object_scores.npz"), **{f"{p}_{k}": v for p in results
                                                        for k, v in zip(("labels", "scores"), results[p],
                                                                        strict=True)})
    print(f"object-level labels and scores: {tmp}/object_scores.npz")
    if len(results) == 2:
        print_table(results)


if __name__ == "__main__":
    main()
