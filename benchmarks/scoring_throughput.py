"""Batch scoring: Ray Data against a plain loop, peak memory against archive size, pool against crop.

1. Throughput: the same archive and model scored by the Ray Data job (`run_scoring`, local Ray)
   and by a plain in-process loop over the same stages (read + decode + model + Parquet rows,
   batch by batch), side by side, interleaved, each --repeats times (medians); scans/s and their
   ratio (goal ≥ 0.9). Both sides start with their libraries imported (the loop in this process;
   the Ray job after one untimed warm-up job that starts Ray Data's per-cluster helper actors, as
   any earlier job on a cluster does); the Ray job's actors start inside the timing. From each
   report's `scored_at` stamps: the start-up (job start to the first batch scored) and the rate
   after it.
2. Memory: the whole job (`python -m jobs.score --local` and every process it starts: Ray's
   raylet, GCS, workers) sampled from /proc every 0.2 s; peak summed RSS for a small and a
   10× larger archive (goal ≤ 1.3×: streaming keeps memory flat).
3. pool against crop: end-to-end scans/s of the Ray job with each classification mode.

Models are untrained (throughput does not depend on weights). Run:
.venv/bin/python -m benchmarks.scoring_throughput [--n 500 2000 5000] [--repeats 3] [--size 128]
    [--memory 1000 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import pyarrow.parquet as pq
import torch

from jobs.scoring.batches import Scorer, decode_batch
from jobs.scoring.inputs import list_inputs
from jobs.scoring.run import ScoreOptions, run_scoring
from models.catalog import PIPELINES
from models.spec import ModelSpec
from models.trained import export_model
from scans.synth import SynthConfig, synthesise

BATCH = 16


def make_model(tmp: str, mode: str, size: int, k: int) -> str:
    """An untrained SSN resnet18 pseudo-colour model directory for ``size``² scans."""
    torch.manual_seed(0)
    trial = ModelSpec(pipeline="ssn", backbone="resnet18", modality="pseudo", k=k, mode=mode, image_size=size,
                  crop_size=64)
    directory = os.path.join(tmp, f"model-{mode}-{size}")
    return export_model(directory, PIPELINES["ssn"].build(trial), trial, 0.5)


@dataclass(frozen=True)
class Run:
    """One timed run: overall scans/s, seconds from its start to the first batch scored, and the
    scans/s from then on (both from the rows' ``scored_at``)."""

    rate: float
    startup_s: float
    steady_rate: float


def _timed(out: str, started: float, ended: float) -> Run:
    """A Run from the rows written under ``out`` and the wall-clock (epoch) start and end."""
    stamps = pq.read_table(out, columns=["scored_at"]).column(0).to_numpy().astype("int64") / 1e6
    first, last = stamps.min(), stamps.max()
    later = int((stamps > first).sum())
    return Run(len(stamps) / (ended - started), first - started, later / max(last - first, 1e-9))


def plain_loop(archive: str, model_dir: str, out: str, threads: int) -> Run:
    """The stages run in one process, batch after batch, rows written to Parquet."""
    torch.set_num_threads(threads)
    started = time.time()
    scorer = Scorer(model_dir, device="cpu")
    root, inputs = list_inputs(archive)
    model = scorer.model
    os.makedirs(out, exist_ok=True)
    writer = None
    for first in range(0, len(inputs), BATCH):
        rows = [i.as_row() for i in inputs[first:first + BATCH]]
        batch = {key: _column([r[key] for r in rows]) for key in rows[0]}
        table = scorer(decode_batch(batch, root, model.modality, model.image_size))
        writer = writer or pq.ParquetWriter(os.path.join(out, "rows.parquet"), table.schema)
        writer.write_table(table)
    writer.close()
    return _timed(out, started, time.time())


def _column(values: list):
    import numpy as np

    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def ray_job(archive: str, model_dir: str, out: str, workers: int | None = None) -> Run:
    """run_scoring on the already started local Ray (driver model load and actor start included),
    with its default actors or ``workers`` of them."""
    started = time.time()
    run_scoring(ScoreOptions(archive=archive, model=model_dir, out=out, batch_size=BATCH, workers=workers,
                             progress=False))
    return _timed(os.path.join(out, "scans"), started, time.time())


def _median(runs: list[Run]) -> Run:
    fields = ("rate", "startup_s", "steady_rate")
    return Run(*(statistics.median(getattr(r, f) for r in runs) for f in fields))


def _tree_rss(pid: int) -> int:
    """Summed resident memory (bytes) of a process and all its descendants, from /proc."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as f:
                    stack += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            continue
    return total


def peak_memory(archive: str, model_dir: str, out: str, *flags: str) -> tuple[float, float]:
    """(peak summed RSS in MiB, wall seconds) of a whole `python -m jobs.score --local` job."""
    command = [sys.executable, "-m", "jobs.score", "--archive", archive, "--model", model_dir, "--out", out,
               "--local", "--no-progress", "--batch-size", str(BATCH), *flags]
    start, peak = time.perf_counter(), 0
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    while process.poll() is None:
        peak = max(peak, _tree_rss(process.pid))
        time.sleep(0.2)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {process.returncode}")
    return peak / 2**20, time.perf_counter() - start


def synth(tmp: str, n: int, size: int) -> str:
    out = os.path.join(tmp, f"archive-{n}-{size}")
    synthesise(SynthConfig(n=n, size=size, seed=11, previews=False), out, progress=False)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[500, 2000, 5000],
                        help="archive sizes for throughput")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per side; medians reported")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--crop-n", type=int, default=200, help="scans for the pool/crop runs")
    parser.add_argument("--memory", type=int, nargs=2, default=[1000, 10000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--memory-size", type=int, default=64)
    parser.add_argument("--skip", nargs="*", default=[], choices=["throughput", "memory", "modes"])
    args = parser.parse_args()
    import ray

    tmp = tempfile.mkdtemp(prefix="dualscan-scoring-")
    threads = os.cpu_count() or 1
    print(f"machine: {threads} CPUs, torch {torch.__version__}, CUDA {torch.cuda.is_available()}", flush=True)
    pool = make_model(tmp, "pool", args.size, args.k)
    if "throughput" not in args.skip or "modes" not in args.skip:
        ray.init(num_cpus=threads, include_dashboard=False, log_to_driver=False,
                 logging_config=ray.LoggingConfig(log_level="ERROR"))
    if "throughput" not in args.skip:
        ray_job(synth(tmp, 4 * BATCH, args.size), pool, os.path.join(tmp, "warm-up"))
        print(f"\n## throughput: scans at {args.size}², SSN K={args.k} pool resnet18, batch {BATCH}, "
              f"medians of {args.repeats}")
        print(f"| scans | plain loop (torch threads {threads}) | Ray job (defaults) | ratio | "
              "Ray start-up s | Ray after start-up | loop after its first batch | ratio after start-up | "
              f"Ray job, --workers 1 (torch threads {threads}) | ratio |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for n in args.n:
            archive = synth(tmp, n, args.size)
            runs: dict[str, list[Run]] = {"loop": [], "ray": [], "ray-1": []}
            for rep in range(args.repeats):
                runs["loop"].append(plain_loop(archive, pool, os.path.join(tmp, f"loop-{n}-{rep}"), threads))
                runs["ray"].append(ray_job(archive, pool, os.path.join(tmp, f"ray-{n}-{rep}")))
                runs["ray-1"].append(ray_job(archive, pool, os.path.join(tmp, f"ray1-{n}-{rep}"), workers=1))
            loop, ray_, one = (_median(runs[k]) for k in ("loop", "ray", "ray-1"))
            print(f"| {n} | {loop.rate:.1f} | {ray_.rate:.1f} | {ray_.rate / loop.rate:.2f} | "
                  f"{ray_.startup_s:.1f} | {ray_.steady_rate:.1f} | {loop.steady_rate:.1f} | "
                  f"{ray_.steady_rate / loop.steady_rate:.2f} | {one.rate:.1f} | "
                  f"{one.rate / loop.rate:.2f} |", flush=True)
    if "modes" not in args.skip:
        crop = make_model(tmp, "crop", args.size, args.k)
        crop_archive = synth(tmp, args.crop_n, args.size)
        rates = {mode: ray_job(crop_archive, model, os.path.join(tmp, f"mode-{mode}")).rate
                 for mode, model in (("pool", pool), ("crop", crop))}
        print(f"\n## pool against crop: {args.crop_n} scans at {args.size}², K={args.k}, crops 64², Ray job")
        print("| mode | scans/s |\n|---|---|")
        for mode, rate in rates.items():
            print(f"| {mode} | {rate:.2f} |")
        print(f"pool/crop: {rates['pool'] / rates['crop']:.1f}×", flush=True)
    if ray.is_initialized():
        ray.shutdown()
    if "memory" not in args.skip:
        small_model = make_model(tmp, "pool", args.memory_size, args.k)
        print(f"\n## peak memory of the whole job (archives at {args.memory_size}²)")
        print("| scans | peak RSS (MiB, all processes) | wall s | scans/s |\n|---|---|---|---|")
        peaks = []
        for n in args.memory:
            archive_n = synth(tmp, n, args.memory_size)
            peak, wall = peak_memory(archive_n, small_model, os.path.join(tmp, f"mem-{n}"))
            peaks.append(peak)
            rows = pq.read_table(os.path.join(tmp, f"mem-{n}", "scans"), columns=["scan_id"]).num_rows
            assert rows == n, f"report of {n} scans has {rows} rows"
            print(f"| {n} | {peak:.0f} | {wall:.0f} | {n / wall:.1f} |", flush=True)
        print(f"large/small peak: {peaks[1] / peaks[0]:.2f}×")


if __name__ == "__main__":
    main()
