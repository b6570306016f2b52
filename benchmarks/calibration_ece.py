"""What calibration buys a trained item-first model: its found items' expected calibration error on
test, raw against calibrated, the calibration fitted on val alone (as training and `dualscan
calibrate` fit it).

The model's own calibration, if it ships one, is set aside: the raw scores of val's found items
choose and fit the map (temperature, Platt or isotonic, 5-fold log loss, models.calibration), then test's
found items are judged once and their raw and calibrated scores compared on the same items: ECE
(10 bins) with a 95 % bootstrap interval over scans, log loss, Brier score, object AUROC (a strictly
increasing map keeps it), the operating threshold raw and mapped, and the share of test scans
scoring above 0.9. Test chooses nothing.

Run: .venv/bin/python -m benchmarks.calibration_ece --model MODEL_DIR --archive ARCHIVE [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from models.calibration import choose_calibration, log_loss, reliability
from models.intervals import bootstrap_counts, interval_of, scan_groups, weighted_ece
from models.metrics import auroc
from models.trained import load_trained_model
from scans.archive import Archive
from study.items.judge import JudgedSplit, judge_split

BOOTSTRAP = 1000


def found_items(judged: JudgedSplit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw scores, labels, scans) of the split's found items (missed true items have no score to
    calibrate)."""
    labels, scores = judged.levels.arrays("object")
    found = judged.n_found_judged
    return (np.asarray(scores[:found], np.float64), np.asarray(labels[:found], bool),
            judged.levels.scan_ids("object")[:found])


def ece_interval(scores: np.ndarray, labels: np.ndarray, scans: np.ndarray, seed: int) -> tuple[float, float]:
    """95 % bootstrap interval over scans (a scan's items together) of the ECE."""
    values = [weighted_ece(counts, labels, scores)
              for counts in bootstrap_counts(scan_groups(scans, scores.size), BOOTSTRAP, seed)]
    interval = interval_of(np.concatenate(values))
    return interval.low, interval.high


def describe(name: str, scores: np.ndarray, labels: np.ndarray, scans: np.ndarray, scan_scores: np.ndarray,
             seed: int) -> str:
    """One line of figures for ``scores`` of the test items."""
    ece = reliability(scores, labels)["ece"]
    low, high = ece_interval(scores, labels, scans, seed)
    brier = float(np.mean((scores - labels) ** 2))
    return (f"{name}: ECE {ece:.3f} [{low:.3f}, {high:.3f}], log loss {log_loss(scores, labels):.3f}, "
            f"Brier {brier:.3f}, object AUROC (found items) {auroc(labels, scores):.3f}, "
            f"scans above 0.9: {np.mean(scan_scores > 0.9) * 100:.0f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a trained item-first model directory")
    parser.add_argument("--archive", required=True, help="a labelled archive with val and test splits")
    parser.add_argument("--seed", type=int, default=0, help="the folds' and the bootstrap's seed")
    args = parser.parse_args()
    torch.set_num_threads(2)
    trained = load_trained_model(args.model, "cpu")
    if not trained.item_first:
        raise SystemExit(f"{args.model}: item scores come from item-first models (subcomponent, object)")
    raw_threshold = trained.raw_threshold
    trained.calibration, trained.threshold = None, raw_threshold
    archive = Archive(args.archive)
    start = time.perf_counter()
    val_scores, val_labels, _ = found_items(judge_split(trained, archive, archive.ids_in_split("val")))
    calibration = choose_calibration(val_scores, val_labels, "val", args.seed)
    if calibration is None:
        raise SystemExit(f"val: {len(val_scores)} found items, {int(val_labels.sum())} anomalous: "
                         "too few to fit a calibration")
    losses = ", ".join(f"{k} {v:.4f}" for k, v in calibration.fitted_on.get("cv_log_loss", {}).items())
    print(f"val: {len(val_scores)} found items ({int(val_labels.sum())} anomalous) chose "
          f"{calibration.method} (5-fold log loss: {losses}) in {time.perf_counter() - start:.0f} s",
          flush=True)
    start = time.perf_counter()
    judged = judge_split(trained, archive, archive.ids_in_split("test"))
    scores, labels, scans = found_items(judged)
    scan_scores = np.asarray(judged.scan_scores, np.float64)
    calibrated = calibration.apply(scores).astype(np.float64)
    mapped = float(calibration.apply(np.array([raw_threshold]))[0])
    print(f"test: {len(scores)} found items ({int(labels.sum())} anomalous), {len(scan_scores)} scans, "
          f"judged in {time.perf_counter() - start:.0f} s; threshold {raw_threshold:.3f} raw -> {mapped:.3f}")
    print(describe("raw", scores, labels, scans, scan_scores, args.seed))
    print(describe(calibration.method, calibrated, labels, scans,
                   calibration.apply(scan_scores).astype(np.float64), args.seed))
    flags_raw, flags_calibrated = scores >= raw_threshold, calibrated >= mapped
    print(f"decisions at the threshold: {int(flags_raw.sum())} raw, {int(flags_calibrated.sum())} calibrated "
          f"({'the same items' if np.array_equal(flags_raw, flags_calibrated) else 'DIFFERENT items'})")


if __name__ == "__main__":
    main()
