"""How well place alone tells an anomaly from a benign part, in worlds 1 and 2: a classifier that
sees only the item's class and where a region's centre lies in the item's own frame, no pixels.

Per world, ``--items`` items are drawn (class uniform, one anomaly each, every kind); each anomaly's
centre is a positive, and a benign labelled part of the same item class and the same size (its
extent within the anomaly's size bin, log-spaced) a negative. The classifier is a per-class 8×8
histogram of the centres over the item's normalised frame ([-1, 1]², Laplace-smoothed anomaly share
per cell), fitted on half of the items and scored on the other half: its AUROC, with a 95 %
bootstrap interval over the scored items. 0.5 means place says nothing; world 1's fixed hiding
places are expected to say a lot.

Run: .venv/bin/python -m benchmarks.place_only [--items 3000] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from models.intervals import Interval, interval_of
from models.metrics import auroc
from scans.phantoms.anomalies import add_anomaly
from scans.phantoms.worlds import WORLDS

BINS = 8
SIZE_BINS = np.geomspace(0.2, 20.0, 7)  # cm: a region's extent bin


def extent(shape) -> float:
    u0, u1, v0, v1 = shape.bounds()
    return float(max(u1 - u0, v1 - v0))


def regions(world: int, items: int, seed: int) -> list[tuple[str, float, float, int, int]]:
    """(class, x, y in the item's normalised frame, label, item number) of every positive and its
    size-matched negative."""
    rules, rng = WORLDS[str(world)], np.random.default_rng(seed)
    classes = rules.classes()
    out = []
    for item in range(items):
        design = rules.item(rng, classes[int(rng.integers(len(classes)))])
        benign = [p for p in design.parts if p.labelled]
        add_anomaly(rng, design)
        anomaly = next(p for p in design.parts if p.anomaly)
        size_bin = np.digitize(extent(anomaly.shape), SIZE_BINS)
        alike = [p for p in benign if np.digitize(extent(p.shape), SIZE_BINS) == size_bin]
        if not alike:
            continue
        negative = alike[int(rng.integers(len(alike)))]
        for part, label in ((anomaly, 1), (negative, 0)):
            x, y = part.shape.cx / (design.width / 2), part.shape.cy / (design.height / 2)
            out.append((design.item_class, float(np.clip(x, -1, 1)), float(np.clip(y, -1, 1)), label, item))
    return out


def cell(x: float, y: float) -> tuple[int, int]:
    return min(int((x + 1) / 2 * BINS), BINS - 1), min(int((y + 1) / 2 * BINS), BINS - 1)


def place_auroc(rows, seed: int) -> tuple[float, Interval, int]:
    """Fit the per-class histograms on the even items, score the odd ones."""
    counts: dict[str, np.ndarray] = {}
    for item_class, x, y, label, item in rows:
        if item % 2 == 0:
            grid = counts.setdefault(item_class, np.zeros((BINS, BINS, 2)))
            grid[(*cell(x, y), label)] += 1
    scores, labels = [], []
    for item_class, x, y, label, item in rows:
        if item % 2 == 1:
            grid = counts.get(item_class, np.zeros((BINS, BINS, 2)))
            negatives, positives = grid[cell(x, y)]
            scores.append((positives + 1) / (positives + negatives + 2))
            labels.append(label)
    scores_a, labels_a = np.asarray(scores), np.asarray(labels, bool)
    rng = np.random.default_rng(seed)
    draws = [auroc(labels_a[i], scores_a[i]) for i in (rng.integers(0, labels_a.size, labels_a.size)
                                                       for _ in range(1000))]
    return auroc(labels_a, scores_a), interval_of(np.asarray(draws)), labels_a.size


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print("| world | regions scored | place-only AUROC |")
    print("|---|---|---|")
    for world in (1, 2):
        start = time.perf_counter()
        value, spread, n = place_auroc(regions(world, args.items, args.seed), args.seed)
        low, high = spread.low, spread.high
        took = time.perf_counter() - start
        print(f"| {world} | {n} | {value:.3f} [{low:.3f}, {high:.3f}] | ({took:.1f} s)")


if __name__ == "__main__":
    main()
