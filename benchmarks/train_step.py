"""Where a training step of the item sub-component pipeline spends its time, and its tiles per
second against a reference revision's step, on the same train scans, with the same threads.

Both revisions train by their own ``study/configs/quality.yaml`` (the detector each ships) through
their own ``train_item_model``, each in a fresh interpreter, alternating, timed by the loop's own
clock (reading the items and the sampler's set-up are not a step's); the step's phases
(sampling, augmentation, the model's input, superpixels, dense features and heads, loss, mining,
backward with the optimiser as the rest) are timed in this checkout by wrapping the functions
the real training loop calls.

Run: .venv/bin/python -m benchmarks.train_step --archive ARCHIVE [--scans 600] [--steps 50]
         [--reference REV] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = "study/configs/quality.yaml"

# trains ``steps`` steps of a checkout's quality detector on the given train scans; prints the
# seconds of the steps themselves (the loop's own clock: reading items and setting up excluded)
PROBE = """
import json, sys, time, torch
from study.points import first_point
from scans.archive import Archive
from study.config import load_config
from study.items.data import TRAIN_DTYPE, read_items
from study.items.train import train_item_model
from study.items.trial import recipe_of
from study.pipelines import PIPELINES
from study.train import trial_from_config

args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
config = load_config(args["config"], {"data.archive": args["archive"], "recipe.steps": args["steps"],
                                      "recipe.eval_every": args["steps"]})
modality = config.space.modalities[0]
items = read_items(Archive(args["archive"]), args["ids"], modality, dtype=TRAIN_DTYPE)
choices = first_point(config.space)
trial = trial_from_config(config, choices)
model = PIPELINES[trial.pipeline].build(trial)
recipe = recipe_of(config, trial)
torch.manual_seed(0)
logs = []
train_item_model(model, items, recipe, torch.device("cpu"), lambda step, log: logs.append(log), seed=0)
print(json.dumps({"seconds": logs[-1].seconds, "batch": recipe.batch, "items": len(items)}))
"""


def probe(checkout: str, archive: str, ids: list[str], steps: int, threads: int) -> dict:
    """One fresh interpreter training ``steps`` steps in ``checkout``."""
    payload = json.dumps({"archive": archive, "ids": ids, "steps": steps, "threads": threads,
                          "config": os.path.join(checkout, CONFIG)})
    out = subprocess.run([sys.executable, "-c", PROBE, payload], cwd=checkout, check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": checkout})
    return json.loads(out.stdout.strip().splitlines()[-1])


def phase_profile(archive: str, ids: list[str], steps: int) -> tuple[dict[str, float], float, int]:
    """Seconds per phase summed over ``steps`` steps of this checkout's training loop, the whole
    wall time and the batch size."""
    import torch

    import study.items.train as item_train
    from scans.archive import Archive
    from study.config import load_config
    from study.items.data import TRAIN_DTYPE, read_items
    from study.items.tiles import TileSampler
    from study.items.trial import recipe_of
    from study.pipelines import PIPELINES
    from study.points import first_point
    from study.train import trial_from_config

    config = load_config(os.path.join(REPO, CONFIG), {"data.archive": archive, "recipe.steps": steps,
                                                      "recipe.eval_every": steps})
    modality = config.space.modalities[0]
    items = read_items(Archive(archive), ids, modality, dtype=TRAIN_DTYPE)
    trial = trial_from_config(config, first_point(config.space))
    model = PIPELINES[trial.pipeline].build(trial)
    recipe = recipe_of(config, trial)
    spent: dict[str, float] = defaultdict(float)

    def timed(name, function):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start
        return run

    sample = TileSampler.sample
    TileSampler.sample = timed("sample tiles", sample)
    saved = {name: getattr(item_train, name) for name in ("augment", "mine_hard_negatives")}
    item_train.augment = timed("augment", saved["augment"])
    item_train.mine_hard_negatives = timed("mine hard negatives", saved["mine_hard_negatives"])
    model.assemble = timed("model input (mask, frame)", model.assemble)
    model.superpixels = timed("superpixels (SSN, connectivity)", model.superpixels)
    model.loss = timed("loss", model.loss)
    forward = model.forward
    model.forward = timed("forward", forward)
    logs = []
    try:
        torch.manual_seed(0)
        item_train.train_item_model(model, items, recipe, torch.device("cpu"),
                                    lambda step, log: logs.append(log), seed=0)
        wall = logs[-1].seconds  # the steps alone: the sampler's set-up is not a step's
    finally:
        TileSampler.sample = sample
        for name, function in saved.items():
            setattr(item_train, name, function)
    phases = dict(spent)
    phases["dense features and heads"] = phases.pop("forward") - phases["superpixels (SSN, connectivity)"]
    phases["backward and optimiser (the rest)"] = wall - sum(phases.values())
    return phases, wall, recipe.batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", required=True)
    parser.add_argument("--scans", type=int, default=600, help="train scans whose items are sampled")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--reference", default="1c06304", help="the revision before the step's rework")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import torch

    from scans.archive import Archive

    threads = torch.get_num_threads()
    archive = Archive(args.archive)
    ids = archive.ids_in_split("train")[: args.scans]
    print(f"{len(ids)} train scans of {archive.uri}, {args.steps} steps, torch threads {threads}\n",
          flush=True)
    phases, wall, batch = phase_profile(os.path.abspath(args.archive), ids, args.steps)
    print("| phase | s per step | share |\n|---|---|---|")
    for name, seconds in sorted(phases.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {seconds / args.steps:.3f} | {100 * seconds / wall:.1f} % |")
    rate = batch * args.steps / wall
    print(f"| **step** | **{wall / args.steps:.3f}** | {batch} tiles: {rate:.1f} tiles/s |\n", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        old = os.path.join(scratch, "reference")
        subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", old, args.reference], check=True,
                       capture_output=True)
        try:
            runs: dict[str, list[dict]] = {"reference": [], "now": []}
            where = os.path.abspath(args.archive)
            for _ in range(args.repeats):
                for name, checkout in (("reference", old), ("now", REPO)):
                    runs[name].append(probe(checkout, where, ids, args.steps, threads))
            print("| revision | tiles/s (each run) | median |\n|---|---|---|")
            medians = {}
            for name, results in runs.items():
                rates = sorted(r["batch"] * args.steps / r["seconds"] for r in results)
                medians[name] = rates[len(rates) // 2]
                label = args.reference if name == "reference" else "this checkout"
                print(f"| {label} | {', '.join(f'{r:.1f}' for r in rates)} | {medians[name]:.1f} |")
            print(f"\nnow / reference: {medians['now'] / medians['reference']:.2f}×")
        finally:
            subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", old], check=False)


if __name__ == "__main__":
    main()
