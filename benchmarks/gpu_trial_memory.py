"""Peak GPU memory and wall time of one paper.yaml trial on a CUDA GPU (the heaviest of the grid by
default: the sub-component pipeline, crop mode, VGG-16, hlz), item stage included:
`python -m benchmarks.gpu_trial_memory --archive ARCHIVE --steps 100 --out trial.json`."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import torch

from study.config import load_config
from study.items.stage import ensure_item_stage
from study.items.trial import train_item_trial
from study.points import first_point
from study.train import trial_from_config

PAPER = os.path.join(os.path.dirname(__file__), "..", "study", "configs", "paper.yaml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", required=True)
    parser.add_argument("--steps", type=int, default=100, help="the trial's recipe steps")
    parser.add_argument("--stage-steps", type=int, default=100, help="the Mask R-CNN item stage's steps")
    parser.add_argument("--backbone", default="vgg16")
    parser.add_argument("--modality", default="hlz")
    parser.add_argument("--out", required=True, help="JSON file of the figures")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_trial_memory: needs a CUDA GPU")
    work = tempfile.mkdtemp(prefix="dualscan-gpu-trial-")
    config = load_config(PAPER, {"data.archive": os.path.abspath(args.archive), "storage": work,
                                 "data.cache": os.path.join(work, "cache"), "recipe.steps": args.steps,
                                 "recipe.eval_every": args.steps, "items.steps": args.stage_steps})
    started = time.perf_counter()
    config = ensure_item_stage(config, os.path.join(work, "items"))
    stage_seconds = time.perf_counter() - started
    trial = trial_from_config(config, first_point(config.space, {"pipeline": "subcomponent",
                                                                  "backbone": args.backbone,
                                                                  "modality": args.modality}))
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    metrics: dict = {}
    train_item_trial(config, trial, lambda m, state: metrics.update(m))
    figures = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "backbone": args.backbone,
               "modality": args.modality, "steps": args.steps, "batch": trial.batch_size,
               "trial_seconds": round(time.perf_counter() - started, 1),
               "stage_seconds": round(stage_seconds, 1),
               "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
               "val_objective": metrics.get("objective")}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(figures, f, indent=2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
