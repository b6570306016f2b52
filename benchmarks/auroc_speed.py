"""AUROC on every val pass: models.metrics.auroc (scipy's average ranks) against the reference it
replaced (a Python loop over tie groups), the same scores in one process, rounds interleaved.

Run: .venv/bin/python -m benchmarks.auroc_speed [--n 200000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from models.metrics import auroc


def reference_auroc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """The AUROC the project computed before: average ranks set tie group by tie group in Python."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0 or np.isnan(scores).any():
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(scores.size, dtype=np.float64)
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], scores.size]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def timed(fn, *args) -> tuple[float, float]:
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="scores (default 200,000)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    labels = rng.random(args.n) < 0.3
    cases = {"distinct scores": rng.normal(labels * 0.8, 1.0),
             "float16 scores (ties)": rng.normal(labels * 0.8, 1.0).astype(np.float16).astype(np.float64)}
    print(f"| scores ({args.n:,}) | reference s | scipy ranks s | speed-up | same value |")
    print("|---|---|---|---|---|")
    for name, scores in cases.items():
        before, after = [], []
        for _ in range(args.repeats):  # interleaved: both see the same machine state
            t, old = timed(reference_auroc, labels, scores)
            before.append(t)
            t, new = timed(auroc, labels, scores)
            after.append(t)
        b, a = statistics.median(before), statistics.median(after)
        print(f"| {name} | {b:.3f} | {a:.3f} | {b / a:.1f}× | {abs(old - new) < 1e-12} |")


if __name__ == "__main__":
    main()
