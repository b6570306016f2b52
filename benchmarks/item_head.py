"""The learned item head against the fixed item-score rules, on one trained sub-component model.

The weights ``benchmarks.item_quality`` kept (the epoch val chose) are loaded into the same
configuration with an item head; the head is fitted on the held-out train items (never val or
test: ``recipe.head_holdout``); val chooses the fixed rule, and separately the threshold of each
(val object FP% ≤ 5); test reports both end to end on found items, per kind, with the paired
bootstrap of their AUROC difference over the same test items.

Run: .venv/bin/python -m benchmarks.item_head --archive ARCHIVE --out DIR --weights FILE
         [--val-scans N] [--test-scans N]   (DIR: item_quality's, with its item stage and cache)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import torch

from benchmarks.item_quality import CONFIG, bar_table, evaluated_on
from benchmarks.pipeline_quality import Run, report
from models.items.evidence import EVIDENCE_FEATURES
from models.model_dir import ITEM_STAGE_DIR
from study.config import load_config
from study.evaluation import epoch_metrics
from study.items.evaluation import choose_rule, fit_item_head, level_scores, score_items
from study.items.stage import ensure_item_stage
from study.items.trial import load_item_study_data
from study.pipelines import PIPELINES
from study.points import first_point
from study.train import trial_from_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", required=True)
    parser.add_argument("--out", required=True, help="item_quality's DIR (its item stage and item cache)")
    parser.add_argument("--weights", required=True, help="a state dict item_quality kept")
    parser.add_argument("--config", default=CONFIG)
    parser.add_argument("--val-scans", type=int)
    parser.add_argument("--test-scans", type=int)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    out = os.path.abspath(args.out)
    config = load_config(args.config, {"data.archive": os.path.abspath(args.archive), "data.cache": out,
                                       "storage": out})
    if not config.recipe.head_holdout:
        raise SystemExit(f"{args.config}: recipe.head_holdout is 0: no held-out items to fit a head on")
    config = ensure_item_stage(config, os.path.join(out, ITEM_STAGE_DIR))
    trial = trial_from_config(config, first_point(config.space))
    data = evaluated_on(load_item_study_data(config, trial.modality), args.val_scans, args.test_scans)
    model = PIPELINES[trial.pipeline].build(trial)
    missing, unexpected = model.load_state_dict(torch.load(args.weights, weights_only=True), strict=False)
    if unexpected or any(not key.startswith("item_head.") for key in missing):
        raise SystemExit(f"{args.weights} does not match {args.config}'s model: missing {missing}, "
                         f"unexpected {unexpected}")
    device = torch.device("cpu")
    start = time.perf_counter()
    fit_item_head(model, data.held_out, device)
    val, test = score_items(model, data.val, device), score_items(model, data.test, device)
    fixed = {rule: scores for rule, scores in val.by_rule.items() if rule != "learned"}
    fixed_rule, fixed_aurocs = choose_rule(data.val, dataclasses.replace(val, by_rule=fixed))
    runs = []
    for name, rule in ((f"fixed rule ({fixed_rule})", fixed_rule), ("learned item head", "learned")):
        record = epoch_metrics(level_scores(data.val, val, rule), level_scores(data.test, test, rule),
                               "object_auroc", "max", config.objective.fp_target)
        runs.append(Run(name, 0, 0, 0, record["objective"], record["threshold"], 0.0,
                        level_scores(data.test, test, rule), []))
    weights = model.item_head.linear.weight.detach()[0]
    ranked = sorted(zip(EVIDENCE_FEATURES, weights.tolist(), strict=True), key=lambda kv: -abs(kv[1]))
    held = data.held_out
    lines = [f"# Learned item head on {args.weights}", "",
             f"held-out train items {len(held)} ({int(held.anomalous.sum())} anomalous); val items "
             f"{len(data.val)}, test items {len(data.test)}; {time.perf_counter() - start:.0f} s", "",
             "val object AUROC of the fixed rules (the learned one: its run's val AUROC): "
             + ", ".join(f"{r} {v:.3f}" for r, v in fixed_aurocs.items()), "", report(runs), ""]
    for run in runs:
        lines += [*bar_table(run, None), ""]
    lines += ["weights of the standardised evidence (largest first): "
              + ", ".join(f"{name} {w:+.2f}" for name, w in ranked), ""]
    text = "\n".join(lines)
    with open(os.path.join(out, "item_head.md"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
