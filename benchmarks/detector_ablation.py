"""The detector's ablation (issue 26): each section of its redesign removed alone, the same budget,
the same items, val object AUROC end to end on found items.

One item stage (``--stage``, e.g. the bar run's ``OUT/items``; trained into ``OUT/items`` when not
given) finds every split's items once; each variant is ``study/configs/quality.yaml`` with one
change (VARIANTS) and trains for ``--steps`` steps with the same seed, tiles and batch. Val
chooses each variant's epoch and rule as training does; the table gives every variant's val
curve, its chosen val AUROC with a 95 % bootstrap interval over val items, and its difference to
the whole detector on the same val items (paired bootstrap). Section 4 (the learned item head)
is also read off the whole detector's own chosen weights: the learned rule against the best
fixed rule on the same scores. Test is not looked at (each run scores only ``--test-scans`` test
scans, which training's last step requires; nothing here reports them).

Each variant's val labels and scores are kept in ``OUT/scores-NAME.npz`` beside ``OUT/ablation.json``;
a later run under the same protocol (config file, stage, steps, val scans) reads them back instead
of training that variant again (training is deterministic for a seed: the detector's 1000 steps
gave 0.780 in three runs), so the table grows by the variants asked for; ``--retrain`` trains them all.

Variants in STEP_FACTOR train that share of the steps: the detector's budget in wall time for a
variant whose step costs more (the learned SSN's about twice plain SLIC's); their curves' points
are at about the detector's wall time, not its steps.

Run: .venv/bin/python -m benchmarks.detector_ablation --archive ARCHIVE --out DIR [--stage DIR]
         [--stage-steps N] [--steps 1000] [--eval-every 250] [--val-scans 150]
         [--variants detector masked ...] [--retrain]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time

import numpy as np
import torch

from benchmarks.item_quality import CONFIG, evaluated_on, train_pipeline
from benchmarks.pipeline_quality import paired_auroc_difference
from study.config import load_config
from study.evaluation import level_estimates
from study.items.evaluation import choose_rule
from study.items.stage import ensure_item_stage
from study.items.trial import load_item_study_data
from study.pipelines import PIPELINES

# name: (the section it removes or adds, what changes, config overrides)
VARIANTS: dict[str, tuple[str, str, dict]] = {
    "detector": ("—", "quality.yaml as shipped (sections 1, 3, 4; plain SLIC)", {}),
    "masked": ("−1", "the item alone: air outside its mask, 4 px margin, no frame",
               {"recipe.item_input": "masked"}),
    "context": ("−1 (frame)", "context and mask, no frame channels", {"recipe.item_input": "context"}),
    "no_small": ("−3", "τ only: no pixel-count positives, no max pixel logit, no ignore band",
                 {"recipe.small_anomalies": False}),
    "no_head": ("−4", "no held-out scans, fixed item rules only (all train scans train the classifier)",
                {"recipe.head_holdout": 0.0}),
    "learned_ssn": ("2 at 64", "the learned SSN at the paper's width (64), joint with the classifier",
                    {"space.ssn_features": ["paper"], "space.lam": [1.0e-4]}),
    "learned_ssn_narrow": ("2 at 16", "the learned SSN at width 16, joint (quality.yaml's before issue 41)",
                           {"space.ssn_features": ["paper_narrow"], "space.lam": [1.0e-4]}),
    # issue 41's levers, each alone; the learned SSN at equal wall time (STEP_FACTOR: its step
    # costs about twice plain SLIC's)
    "learned_ssn_half": ("41: steps", "the learned SSN at width 16 at half the steps: equal wall time",
                         {"space.ssn_features": ["paper_narrow"], "space.lam": [1.0e-4]}),
    "overview": ("41: whole item", "the whole item in view (FiLM from the item shrunk to 64²)",
                 {"recipe.overview": True}),
    "class_context": ("41: item class", "each item's class as the item stage names it (FiLM)",
                      {"recipe.class_context": True}),
    "found_masks": ("41: found masks", "train on true and found masks of train's items",
                    {"recipe.train_masks": "both"}),
    # issue 41's harder negatives, each alone (mining 48 items a round scores 32 more whole items
    # every mine_every steps: its wall time is in the table)
    "area_negatives": ("41: negatives by area", "random tiles' items drawn by area, not alike",
                       {"recipe.negatives": "area"}),
    "more_mined": ("41: more mined", "48 benign items mined a round, not 16", {"recipe.mine_items": 48}),
    # issue 41's physics start: the classifier's U-Net encoder from `dualscan pretrain --world 2 --out
    # detectors/physics` (train's designs only), fine-tuned for the same steps
    "physics_start": ("41: physics start", "the encoder pretrained on world 2's physics (train's designs)",
                      {"training.weights": "detectors/physics/weights.pt"}),
}
# variants that train this many times the steps (and evaluate as many times less often in steps):
# their curves have the detector's points at about the detector's wall time
STEP_FACTOR = {"learned_ssn_half": 0.5}


def rules_on_val(model, data) -> dict[str, float]:
    """Each item rule's val object AUROC on the model's own scores (the learned one among them)."""
    scores = PIPELINES["subcomponent"].score(model, data.val, torch.device("cpu"))
    return choose_rule(data.val, scores)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", required=True, help="the bar's archive (or any with a val split)")
    parser.add_argument("--out", required=True, help="cache, stage (when trained here) and ablation.md")
    parser.add_argument("--stage", help="a trained item stage directory to reuse (default: train one in OUT)")
    parser.add_argument("--config", default=CONFIG)
    parser.add_argument("--stage-steps", type=int,
                        help="the item stage's steps when it is trained here (default: the config's)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--val-scans", type=int, default=150)
    parser.add_argument("--test-scans", type=int, default=10, help="test scans the last step scores (unread)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--retrain", action="store_true", help="train every variant asked for, kept or not")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    os.makedirs(args.out, exist_ok=True)
    base = {"data.archive": os.path.abspath(args.archive), "data.cache": os.path.abspath(args.out),
            "storage": os.path.abspath(args.out), "recipe.steps": args.steps,
            "recipe.eval_every": args.eval_every}
    if args.stage_steps:
        base["items.steps"] = args.stage_steps
    stage = os.path.abspath(args.stage or os.path.join(args.out, "items"))
    variants = ["detector", *(v for v in args.variants if v != "detector")]  # the reference first
    protocol = protocol_of(args, stage)
    kept = {} if args.retrain else kept_results(args.out, protocol)
    results = dict(kept)
    for name in variants:  # a start file missing is found before any variant trains
        weights = VARIANTS[name][2].get("training.weights")
        if weights and not os.path.isfile(weights):
            raise SystemExit(f"{name}: {weights} does not exist; make it with `dualscan pretrain --world 2 "
                             f"--out {os.path.dirname(weights)}`")
    reference = kept_scores(args.out, "detector") if "detector" in results else None
    for name in variants:
        if name in results:
            print(f"{name}: kept from an earlier run under the same protocol", flush=True)
            continue
        section, what, overrides = VARIANTS[name]
        factor = STEP_FACTOR.get(name, 1)
        budget = {"recipe.steps": max(1, round(args.steps * factor)),
                  "recipe.eval_every": max(1, round(args.eval_every * factor))}
        config = ensure_item_stage(load_config(args.config, {**base, **budget, **overrides}), stage)
        modality = config.space.modalities[0]
        data = evaluated_on(load_item_study_data(config, modality), args.val_scans, args.test_scans)
        started = time.perf_counter()
        run, model, final = train_pipeline(config, "subcomponent", 0, modality, data)
        labels, scores = final["scores"]["val"].arrays("object")
        scans = final["scores"]["val"].scan_ids("object")
        interval = level_estimates(final["scores"]["val"], run.threshold, "object")["auroc"].interval
        result = {"section": section, "what": what, "overrides": {**overrides, **budget},
                  "val_auroc": run.val_auroc,
                  "interval": (interval.low, interval.high), "rule": final["metrics"]["item_score"],
                  "curve": [round(c["objective"], 4) for c in run.curve],
                  "segment_curve": [round(c["val_segment_auroc"], 4) for c in run.curve],
                  "train_seconds": run.curve[-1]["train_seconds"], "wall_s": time.perf_counter() - started,
                  "protocol": protocol}
        np.savez(scores_path(args.out, name), labels=labels, scores=scores, scans=scans)
        if name == "detector":
            reference = (labels, scores, scans)
            result["rules"] = rules_on_val(model, data)
        else:
            assert np.array_equal(labels, reference[0]), "variants must be judged on the same val items"
            diff = paired_auroc_difference(labels, scores, reference[1], reference[2])
            result["difference"] = [float(np.nanmean(diff)), float(np.nanpercentile(diff, 2.5)),
                                    float(np.nanpercentile(diff, 97.5))]
        results[name] = result
        with open(os.path.join(args.out, "ablation.json"), "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
        text = table(results, args)
        with open(os.path.join(args.out, "ablation.md"), "w", encoding="utf-8") as f:
            f.write(text + "\n")
        print(text, flush=True)
    if all(name in kept for name in variants):
        print(table(results, args), flush=True)


def protocol_of(args: argparse.Namespace, stage: str) -> dict:
    """What makes two runs' figures comparable: the config file's bytes, the stage, the budget."""
    with open(args.config, "rb") as f:
        config_sha256 = hashlib.sha256(f.read()).hexdigest()
    return {"config_sha256": config_sha256, "stage": stage, "steps": args.steps,
            "eval_every": args.eval_every, "val_scans": args.val_scans,
            "archive": os.path.abspath(args.archive)}


def scores_path(out: str, name: str) -> str:
    return os.path.join(out, f"scores-{name}.npz")


def _changes(result: dict) -> dict:
    """A kept result's config changes less its budget (the protocol holds that)."""
    budget = ("recipe.steps", "recipe.eval_every")
    return {k: v for k, v in result.get("overrides", {}).items() if k not in budget}


def kept_results(out: str, protocol: dict) -> dict[str, dict]:
    """Earlier variants' results under ``protocol`` and the variant's changes as they stand now,
    whose val scores are on disk (the detector's among them, or none: every difference is paired
    against it)."""
    path = os.path.join(out, "ablation.json")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        earlier = json.load(f)
    kept = {name: r for name, r in earlier.items()
            if name in VARIANTS and r.get("protocol") == protocol and os.path.exists(scores_path(out, name))
            and _changes(r) == VARIANTS[name][2]}
    return kept if "detector" in kept else {}


def kept_scores(out: str, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A variant's kept val labels, scores and scans (None where kept before scans were)."""
    with np.load(scores_path(out, name), allow_pickle=False) as saved:
        return saved["labels"], saved["scores"], saved["scans"] if "scans" in saved.files else None


def table(results: dict[str, dict], args: argparse.Namespace) -> str:
    """Markdown: a row per variant, and the head against the fixed rules on the detector's weights."""
    steps = ", ".join(str(s) for s in range(args.eval_every, args.steps + 1, args.eval_every))
    lines = [f"| variant | section | what changes | val AUROC at {steps} | chosen val AUROC [95 %] | "
             "Δ against the detector [95 %, paired] | rule | val segment AUROC, last | train s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        low, high = r["interval"]
        delta = "—" if "difference" not in r else "{:+.3f} [{:+.3f}, {:+.3f}]".format(*r["difference"])
        curve = " / ".join(f"{v:.3f}" for v in r["curve"])
        segment = f"{r['segment_curve'][-1]:.3f}" if r.get("segment_curve") else "—"  # kept before it was
        lines.append(f"| {name} | {r['section']} | {r['what']} | {curve} | "
                     f"{r['val_auroc']:.3f} [{low:.3f}, {high:.3f}] | {delta} | {r['rule']} | "
                     f"{segment} | {r['train_seconds']:.0f} |")
    rules = results.get("detector", {}).get("rules")
    if rules:
        fixed = {k: v for k, v in rules.items() if k != "learned"}
        best = max(fixed, key=fixed.get)
        lines += ["", "On the detector's chosen weights, val object AUROC per item rule: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in rules.items())
                  + f" (the learned head against the best fixed rule, {best}: "
                  f"{rules.get('learned', float('nan')) - fixed[best]:+.3f})."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
