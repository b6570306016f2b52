"""What test-time views buy a trained item-first model: the same found items scored with the pool
mode's dense features averaged over 1, 4 or 8 turned and mirrored views (``recipe.test_views``).

The item stage finds the split's items once; every views value then scores those same items (a
missed true item scores 0, as in `dualscan evaluate`) under the model's own item rule. Printed per
views value: object AUROC [95 % bootstrap over items], per kind, the difference against the first
value by a paired bootstrap on the same items, and the scoring seconds.

Run: .venv/bin/python -m benchmarks.test_views --model MODEL_DIR --archive ARCHIVE [--split val]
         [--views 1 4 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmarks.pipeline_quality import paired_auroc_difference
from models.intervals import format_estimate
from models.trained import load_trained_model
from scans.archive import Archive
from study.evaluation import kind_estimates, level_estimates
from study.items.evaluation import level_scores
from study.items.judge import find_split_items
from study.pipelines import PIPELINES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a trained sub-component model directory")
    parser.add_argument("--archive", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--views", type=int, nargs="+", default=[1, 4, 8])
    args = parser.parse_args()
    torch.set_num_threads(2)
    scoring = load_trained_model(args.model, "cpu")
    if scoring.pipeline != "subcomponent" or scoring.model.mode != "pool":
        raise SystemExit(f"{args.model}: test views act on the subcomponent pipeline's pool mode only")
    archive = Archive(args.archive)
    start = time.perf_counter()
    items = find_split_items(scoring, archive, archive.ids_in_split(args.split)).items
    print(f"{args.split}: {len(items)} found items, {len(items.missed_scan)} missed true items "
          f"(items found in {time.perf_counter() - start:.0f} s); item rule {scoring.item_score}", flush=True)
    first: tuple[np.ndarray, np.ndarray] | None = None
    for views in args.views:
        scoring.model.test_views = views
        start = time.perf_counter()
        scores = PIPELINES["subcomponent"].score(scoring.model, items, scoring.device)
        seconds = time.perf_counter() - start
        rule = scoring.item_score if scoring.item_score in scores.by_rule else next(iter(scores.by_rule))
        levels = level_scores(items, scores, rule)
        labels, values = levels.arrays("object")
        auroc = level_estimates(levels, scoring.threshold, "object")["auroc"]
        kinds = ", ".join(f"{k.kind} {k.auroc.value:.3f}" for k in kind_estimates(levels, scoring.threshold))
        line = (f"views {views}: object AUROC {format_estimate(auroc.as_dict(), 3)}; {kinds}; "
                f"scored in {seconds:.0f} s")
        if first is None:
            first = (labels, values)
        else:
            assert np.array_equal(first[0], labels)
            diff = paired_auroc_difference(labels, values, first[1], levels.scan_ids("object"))
            line += (f"; against views {args.views[0]}: {np.mean(diff):+.3f} "
                     f"[{np.quantile(diff, 0.025):+.3f}, {np.quantile(diff, 0.975):+.3f}]")
        print(line, flush=True)


if __name__ == "__main__":
    main()
