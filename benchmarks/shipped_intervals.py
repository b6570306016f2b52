"""A trained item-first model's test figures with the intervals as they were and as they are: the
same scores, AUROC's bootstrap over items against over scans, TP% and FP% by an item bootstrap
against the exact binomial interval; AP and best F1 beside AUROC, per anomaly kind; and the
calibration val chooses now (isotonic with ties merged, Platt in the choice) with test's ECE.

Val and test are judged once through the model's own ``predict`` (as ``dualscan evaluate`` does),
with the model's calibration set aside (raw scores and its raw threshold: the same decisions), and
kept in ``--cache`` so that a rerun only recomputes the statistics. Val chooses the calibration;
test chooses nothing.

Run: .venv/bin/python -m benchmarks.shipped_intervals --model MODEL_DIR --archive ARCHIVE \
         --cache out/bench/NAME.npz [--calibrate]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from models.calibration import choose_calibration, reliability
from models.intervals import (
    ROUNDS,
    bootstrap_counts,
    interval_of,
    metric_intervals,
    scan_groups,
    weighted_ece,
)
from models.metrics import binary_metrics
from models.trained import load_trained_model
from scans.archive import Archive
from study.items.judge import judge_split

FIGURES = ("auroc", "ap", "best_f1", "tp_pct", "fp_pct")


def judged_arrays(model: str, archive_uri: str, splits: list[str], cache: str) -> dict[str, np.ndarray]:
    """Each split's judged items (labels, raw scores, scans, kinds, how many were found) and the raw
    threshold, from ``cache`` when it holds them, else judged now and kept there."""
    if os.path.exists(cache):
        with np.load(cache, allow_pickle=False) as kept:
            if all(f"{s}/labels" in kept.files for s in splits):
                return {k: kept[k] for k in kept.files}
    torch.set_num_threads(2)
    trained = load_trained_model(model, "cpu")
    if not trained.item_first:
        raise SystemExit(f"{model}: item scores come from item-first models (subcomponent, object)")
    trained.calibration, trained.threshold = None, trained.raw_threshold
    archive = Archive(archive_uri)
    out = {"threshold": np.array(trained.raw_threshold)}
    for split in splits:
        start = time.perf_counter()
        judged = judge_split(trained, archive, archive.ids_in_split(split))
        labels, scores = judged.levels.arrays("object")
        out |= {f"{split}/labels": labels, f"{split}/scores": scores,
                f"{split}/scans": judged.levels.scan_ids("object"),
                f"{split}/kinds": judged.levels.object_kinds(),
                f"{split}/found": np.array(judged.n_found_judged)}
        print(f"{split}: {len(judged.scan_ids)} scans, {labels.size} items judged in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(cache)), exist_ok=True)
    np.savez(cache, **out)
    return out


def item_bootstrap_rates(labels: np.ndarray, flagged: np.ndarray, seed: int) -> dict[str, tuple]:
    """The previous intervals of TP% and FP%: a bootstrap over items, percentiles of the resampled
    rates (it collapses to [0, 0] where nothing benign is flagged)."""
    tp, fp = [], []
    for counts in bootstrap_counts(labels.size, ROUNDS, seed):
        with np.errstate(invalid="ignore", divide="ignore"):
            tp.append(100 * (counts @ (labels & flagged)) / (counts @ labels))
            fp.append(100 * (counts @ (~labels & flagged)) / (counts @ ~labels))
    return {"tp_pct": interval_of(np.concatenate(tp)), "fp_pct": interval_of(np.concatenate(fp))}


def _cell(value: float | None, interval, digits: int) -> str:
    if value is None:
        return "—"
    if interval.low is None:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{interval.low:.{digits}f}, {interval.high:.{digits}f}]"


def figures_table(labels: np.ndarray, scores: np.ndarray, scans: np.ndarray, kinds: np.ndarray,
                  threshold: float, seed: int) -> list[str]:
    """Markdown rows: each figure by the previous intervals and the current ones, then per kind."""
    values = binary_metrics(labels, scores, threshold)
    before = {**metric_intervals(labels, scores, threshold, None, seed=seed),
              **item_bootstrap_rates(labels, scores >= threshold, seed)}
    now = metric_intervals(labels, scores, threshold, scans, seed=seed)
    n_scans = len(np.unique(scans))
    lines = [f"{labels.size} items ({int(labels.sum())} anomalous) in {n_scans} scans, "
             f"threshold {threshold:.4f}",
             "", "| figure | value, interval over items (before) | value, interval now |", "|---|---|---|"]
    for name in FIGURES:
        digits = 1 if name.endswith("pct") else 3
        how = "exact binomial" if name.endswith("pct") else "bootstrap over scans"
        lines.append(f"| {name} | {_cell(getattr(values, name), before[name], digits)} "
                     f"| {_cell(getattr(values, name), now[name], digits)} ({how}) |")
    lines += ["", "| kind | items | AUROC over items | AUROC over scans | AP over scans | TP% exact |",
              "|---|---|---|---|---|---|"]
    for kind in sorted(set(kinds[labels]) - {""}):
        chosen = ~labels | (kinds == kind)
        sub = binary_metrics(labels[chosen], scores[chosen], threshold)
        old = metric_intervals(labels[chosen], scores[chosen], threshold, None, seed=seed)
        new = metric_intervals(labels[chosen], scores[chosen], threshold, scans[chosen], seed=seed)
        lines.append(f"| {kind} | {sub.tp + sub.fn} | {_cell(sub.auroc, old['auroc'], 3)} "
                     f"| {_cell(sub.auroc, new['auroc'], 3)} | {_cell(sub.ap, new['ap'], 3)} "
                     f"| {_cell(sub.tp_pct, new['tp_pct'], 1)} |")
    return lines


def ece_by_scans(scores: np.ndarray, labels: np.ndarray, scans: np.ndarray, seed: int):
    """ECE with a 95 % bootstrap interval over scans."""
    values = [weighted_ece(counts, labels, scores) for counts in
              bootstrap_counts(scan_groups(scans, scores.size), ROUNDS, seed)]
    return reliability(scores, labels)["ece"], interval_of(np.concatenate(values))


def calibration_lines(data: dict[str, np.ndarray], seed: int) -> list[str]:
    """The map val chooses now and test's found items' ECE raw and calibrated, over scans."""
    found = {split: int(data[f"{split}/found"]) for split in ("val", "test")}
    val_scores = data["val/scores"][:found["val"]].astype(np.float64)
    calibration = choose_calibration(val_scores, data["val/labels"][:found["val"]], "val", seed)
    if calibration is None:
        return ["val: too few found items to fit a calibration"]
    test = {k: data[f"test/{k}"][:found["test"]] for k in ("scores", "labels", "scans")}
    raw = test["scores"].astype(np.float64)
    losses = ", ".join(f"{k} {v:.4f}" for k, v in calibration.fitted_on["cv_log_loss"].items())
    out = [f"val: {found['val']} found items chose {calibration.method} (5-fold log loss: {losses})"]
    for name, scores in (("raw", raw), (calibration.method, calibration.apply(raw).astype(np.float64))):
        ece, interval = ece_by_scans(scores, test["labels"], test["scans"], seed)
        out.append(f"test, {found['test']} found items, {name}: ECE {_cell(ece, interval, 3)} (over scans)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a trained item-first model directory")
    parser.add_argument("--archive", required=True, help="a labelled archive")
    parser.add_argument("--cache", required=True, help="an .npz keeping the judged splits between runs")
    parser.add_argument("--calibrate", action="store_true", help="also judge val and fit the calibration")
    parser.add_argument("--seed", type=int, default=0, help="the bootstrap's and the folds' seed")
    args = parser.parse_args()
    splits = ["val", "test"] if args.calibrate else ["test"]
    data = judged_arrays(args.model, args.archive, splits, args.cache)
    start = time.perf_counter()
    lines = figures_table(data["test/labels"], data["test/scores"].astype(np.float64), data["test/scans"],
                          data["test/kinds"], float(data["threshold"]), args.seed)
    if args.calibrate:
        lines += ["", *calibration_lines(data, args.seed)]
    print("\n".join(lines))
    print(f"\nstatistics in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
