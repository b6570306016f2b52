"""Memory of four concurrent Tune trials' training data on one node: the object store, the node's
memory-mapped cache, and a private copy per trial (what every trial held before)."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np

TRIALS = 4


def unique_bytes() -> int:
    """This process's private memory (USS): pages no other process maps."""
    with open("/proc/self/smaps_rollup", encoding="utf-8") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return 1024 * sum(int(fields[k].split()[0]) for k in ("Private_Clean", "Private_Dirty"))


def _trial(config: dict, study: dict, shared: dict, barrier: str, copy: bool) -> None:
    """A trial's data path (study.trainable: the object store's copy, else the node cache), every
    array read, held until all trials have theirs; reports its private memory growth."""
    from ray import tune

    from study.config import parse_config
    from study.data import load_study_data
    from study.shared_data import trial_data

    resolved = parse_config(study)
    before = unique_bytes()
    data = trial_data(shared, False, "hlz") or load_study_data(resolved.data, "hlz")
    arrays = [getattr(split, key).numpy() for split in (data.train, data.val, data.test)
              for key in ("images", "parts", "anomaly", "objects")]
    if copy:  # the old loader: np.load of the node's .npz into this process
        arrays = [np.array(a) for a in arrays]
    checksum = sum(float(a.sum(dtype=np.float64)) for a in arrays)
    with open(os.path.join(barrier, f"{config['i']}"), "w", encoding="utf-8") as f:
        f.write("ready")
    deadline = time.monotonic() + 300
    while len(os.listdir(barrier)) < TRIALS and time.monotonic() < deadline:
        time.sleep(0.2)
    tune.report({"growth": unique_bytes() - before, "checksum": checksum,
                 "all_ready": len(os.listdir(barrier)) >= TRIALS})


def run_mode(config, mode: str, storage: str) -> dict:
    """Four trials at once under ``mode``; their growth and the node's one copy, in bytes."""
    from ray import tune

    from study.data import forget_study_data, load_study_data
    from study.shared_data import nbytes, share_training_data

    size = nbytes(load_study_data(config.data, "hlz"))
    forget_study_data()
    shared = share_training_data(config) if mode == "object store" else {}
    barrier = tempfile.mkdtemp()
    bound = tune.with_parameters(_trial, study=config.model_dump(mode="json"), shared=shared,
                                 barrier=barrier, copy=mode == "private copy")
    tuner = tune.Tuner(tune.with_resources(bound, {"cpu": 0.5}),
                       param_space={"i": tune.grid_search(list(range(TRIALS)))},
                       run_config=tune.RunConfig(name=mode.replace(" ", "-"), storage_path=storage,
                                                 verbose=0))
    results = tuner.fit()
    growth = [r.metrics["growth"] for r in results]
    assert all(r.metrics["all_ready"] for r in results), "the trials did not hold their data at once"
    node_copy = 0 if mode == "private copy" else size  # the object store's or the page cache's copy
    return {"mode": mode, "data_bytes": size, "trial_growth": growth, "node_copy": node_copy,
            "ratio": (node_copy + sum(growth)) / size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scans", type=int, default=400)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", default=None, help="JSON results here")
    args = parser.parse_args()
    import ray

    from scans.synth import SynthConfig, synthesise
    from study.config import parse_config

    work = tempfile.mkdtemp(prefix="shared-data-")
    archive = os.path.join(work, "archive")
    synthesise(SynthConfig(n=args.scans, size=args.size, seed=3, split=0.7, val=0.1), archive, workers=1,
               progress=False)
    config = parse_config({"name": "mem", "storage": os.path.join(work, "runs"),
                           "data": {"archive": archive, "image_size": args.size,
                                    "cache": os.path.join(work, "cache")},
                           "space": {"pipelines": ["ssn"], "backbones": ["tiny"], "modalities": ["hlz"]}})
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = [run_mode(config, mode, os.path.join(work, "tune")) for mode in
            ("object store", "node cache", "private copy")]
    for row in rows:
        print(f"{row['mode']:>13}: data {row['data_bytes'] / 2**20:.0f} MiB, trials' private growth "
              f"{[round(g / 2**20) for g in row['trial_growth']]} MiB, node copy "
              f"{row['node_copy'] / 2**20:.0f} MiB → {row['ratio']:.2f}× one copy")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
