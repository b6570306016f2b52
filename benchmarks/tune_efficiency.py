"""Tune overhead per trial, and trial-epochs ASHA spends against the full grid.

1. Overhead: one configuration trained by study.train directly, then as a one-trial Tune study
   (same data cache, same epochs), side by side. Trial wall time = Tune's time_total_s (inside
   the trial: training, evaluation, checkpoints, reports) and the whole Tuner.fit.
2. ASHA: the same grid run to the end (FIFO) and under ASHA; trial-epochs spent by each and
   whether ASHA finds the grid's best configuration.

Run: .venv/bin/python -m benchmarks.tune_efficiency [--n 96] [--size 64]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "0")

import ray

from scans.storage import locate
from scans.synth import SynthConfig, synthesise
from study.config import parse_config
from study.data import load_study_data
from study.results import load_trials
from study.run import build_tuner, run_uri
from study.space import grid_points
from study.train import save_checkpoint, train, trial_from_config


def study(tmp: str, archive: str, name: str, size: int, epochs: int, space: dict, search: dict):
    return parse_config({
        "name": name, "storage": tmp,
        "data": {"archive": archive, "image_size": size, "cache": tmp},
        "space": {"pipelines": ["ssn"], "backbones": ["tiny"], "optimizers": ["adam"], "batch_size": [8],
                  "epochs": epochs, **space},
        "search": {"algorithm": "grid", **search}, "resources": {"cpu": 2},
        "training": {"torch_threads": 2}, "keep_checkpoints": 1})


def overhead(tmp: str, archive: str, size: int) -> None:
    space = {"modalities": ["pseudo", "hlz"], "k": [50, 100], "lr": [3e-3]}
    config = study(tmp, archive, "overhead", size, 4, space, {"max_concurrent": 1})
    config = config.model_copy(update={"data": config.data.model_copy(update={"image_size": 2 * size})})
    points = grid_points(config.space)
    for modality in space["modalities"]:
        load_study_data(config.data, modality)  # both runs read the same node cache
    timings = {}
    for checkpointing in (False, True):  # `dualscan train --out DIR` checkpoints every epoch
        directory = tempfile.mkdtemp(dir=tmp)
        start = time.perf_counter()
        for point in points:
            trial = trial_from_config(config, point)
            train(config, trial, lambda metrics, state, trial=trial, keep=checkpointing, d=directory:
                  keep and save_checkpoint(d, state, config, trial, metrics))
        timings[checkpointing] = time.perf_counter() - start
    direct = timings[True]
    start = time.perf_counter()
    results = build_tuner(config).fit()
    fit = time.perf_counter() - start
    inside = sum(r.metrics["time_total_s"] for r in results)
    print(f"\n1. Tune overhead: {len(points)} trials one after another, 4 epochs each, {2 * size}²")
    print("| run | seconds | vs direct with checkpoints |")
    print("|---|---|---|")
    print(f"| study.train directly, no checkpoints | {timings[False]:.1f} | {timings[False] / direct:.2f} |")
    print(f"| study.train directly, a checkpoint every epoch (`train --out`) | {direct:.1f} | 1.00 |")
    print(f"| Tune trials (sum of time_total_s) | {inside:.1f} | **{inside / direct:.2f}** |")
    print(f"| whole Tuner.fit (actors, scheduling, experiment state) | {fit:.1f} | {fit / direct:.2f} |")


def asha(tmp: str, archive: str, size: int) -> None:
    space = {"modalities": ["pseudo", "hlz"], "k": [30, 60, 120], "lr": [1e-3, 3e-3, 1e-2]}
    outcome = {}
    for scheduler in ("none", "asha"):
        config = study(tmp, archive, f"grid-{scheduler}", size, 6, space,
                       {"scheduler": scheduler, "asha": {"grace_period": 1, "reduction_factor": 3}})
        start = time.perf_counter()
        build_tuner(config).fit()
        seconds = time.perf_counter() - start
        trials = load_trials(locate(run_uri(config)))
        spent = sum(len(t.epochs) for t in trials)
        best = max(trials, key=lambda t: t.best_epoch("max")["objective"])
        outcome[scheduler] = (spent, best, seconds)
        count = len(trials)
    grid_best = outcome["none"][1]
    print(f"\n2. ASHA against the full grid: {count} configurations × 6 epochs")
    print("| schedule | trial-epochs | wall s | best configuration | its objective | same as grid's |")
    print("|---|---|---|---|---|---|")
    for scheduler, (spent, best, seconds) in outcome.items():
        point = best.point
        label = f"{point['modality']}, K={point['k']}, lr={point['lr']}"
        same = "yes" if point == grid_best.point else "no"
        objective = best.best_epoch("max")["objective"]
        print(f"| {scheduler} | {spent} | {seconds:.0f} | {label} | {objective:.3f} | {same} |")
    print(f"ASHA spent {outcome['asha'][0] / outcome['none'][0]:.2f} of the grid's trial-epochs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=96)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="dualscan-tune-")
    archive = os.path.join(tmp, "archive")
    synthesise(SynthConfig(n=args.n, size=args.size, seed=9, split=0.7), archive, progress=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_config=ray.LoggingConfig(log_level="WARNING"))
    try:
        overhead(tmp, archive, args.size)
        asha(tmp, archive, args.size)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
