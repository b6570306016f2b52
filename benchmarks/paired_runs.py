"""Two trained item-first runs compared on the same items: object AUROC of each and their paired
difference per split (val, test, and their true items) and per anomaly kind.

Both runs' ``scores.npz`` (what `dualscan train --out` writes) must hold the same items in the same
order: true items always do; found items do when both runs used one item stage
(``items.directory``). A split whose items differ is named and skipped.

Run: .venv/bin/python -m benchmarks.paired_runs RUN_A RUN_B
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from benchmarks.pipeline_quality import paired_auroc_difference
from models.metrics import auroc
from study.evaluation import read_scores_npz


def kind_auroc(labels: np.ndarray, scores: np.ndarray, kinds: np.ndarray, kind: str) -> float | None:
    """AUROC of one kind's anomalous items against every benign item."""
    chosen = ~labels | (kinds == kind)
    return auroc(labels[chosen], scores[chosen])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("first", help="a run directory (scores.npz inside): A")
    parser.add_argument("second", help="the run it is compared with: B")
    args = parser.parse_args()
    runs = []
    for run in (args.first, args.second):
        with open(os.path.join(run, "scores.npz"), "rb") as f:
            runs.append(read_scores_npz(f.read()))
    first, second = runs
    for split in ("val", "test", "val_true", "test_true"):
        if split not in first or split not in second:
            continue
        labels, a = first[split].arrays("object")
        other, b = second[split].arrays("object")
        if not np.array_equal(labels, other):
            print(f"{split}: the runs judged different items ({len(labels)} against {len(other)}): skipped")
            continue
        diff = paired_auroc_difference(labels, a, b, first[split].scan_ids("object"))
        kinds = first[split].object_kinds()
        per_kind = ", ".join(f"{k} {kind_auroc(labels, a, kinds, k) - kind_auroc(labels, b, kinds, k):+.3f}"
                             for k in sorted(set(kinds[labels]) - {""}))
        low, high = np.quantile(diff, [0.025, 0.975])
        print(f"{split} ({len(labels)} items): A {auroc(labels, a):.3f}, B {auroc(labels, b):.3f}, "
              f"A − B {np.mean(diff):+.3f} [{low:+.3f}, {high:+.3f}]; by kind {per_kind}")


if __name__ == "__main__":
    main()
