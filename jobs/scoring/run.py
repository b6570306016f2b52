"""A scoring job end to end: checks before any work, the Ray Data stream, then the report published."""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from jobs.scoring.inputs import check_modality, list_inputs
from jobs.scoring.model import load_scoring_model
from jobs.scoring.overlays import write_overlays
from jobs.scoring.pitch import pitch_warning
from jobs.scoring.report import STAGING, assemble, check_output, publish, write_success
from jobs.scoring.schema import STAGED_SCHEMA, report_metadata
from jobs.scoring.stages import Scorer, decode_batch
from scans.storage import Location, locate


@dataclass
class ScoreOptions:
    """Everything a scoring job is asked to do (the CLI's flags); resolved values are recorded in
    the report's metadata and _SUCCESS."""

    archive: str
    model: str
    out: str
    batch_size: int = 16
    workers: int | None = None  # None: one per GPU on a cluster with GPUs, else one per CPU
    gpus_per_worker: float | None = None  # None: 1 when the cluster has GPUs, else 0
    cpus_per_worker: float = 1.0
    threshold: float | None = None
    overlays: int = 0
    torch_threads: int | None = None
    progress: bool = True
    fault_marker: str | None = None  # tests: kill the first scoring worker once

    def __post_init__(self):
        checks = {"batch_size": self.batch_size >= 1, "workers": self.workers is None or self.workers >= 1,
                  "cpus_per_worker": self.cpus_per_worker > 0, "overlays": self.overlays >= 0,
                  "gpus_per_worker": self.gpus_per_worker is None or self.gpus_per_worker >= 0}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"--{name.replace('_', '-')}: {getattr(self, name)!r} is out of range")


@dataclass(frozen=True)
class WorkerResources:
    """The scoring actors: how many, and what each gets; ``note`` says when the CPUs asked for were
    shrunk."""

    workers: int
    gpus: float
    cpus: float
    torch_threads: int | None
    note: str = ""


def _resources(options: ScoreOptions, n_files: int) -> WorkerResources:
    """The scoring actors: how many, and per actor GPUs (1 when the cluster has any), CPUs and torch
    threads.

    By default there is one actor per GPU, or on a cluster without GPUs one per CPU but one in eight
    (left to the decode tasks: decoding is about a tenth of a scan's CPU time), each with one torch
    thread, and never more actors than full batches in ``n_files``: on CPU, processes that each run
    the model and post-processing on their own core beat one process whose threads share the
    model's layers and wait for each other in its serial parts (BENCHMARKS.md). With
    ``--workers`` given, torch threads on CPU default to the cluster's CPUs shared out among the
    actors. A pool that takes every CPU starves the other tasks and hangs (ray issue #44687), so
    one CPU is left out of the actors' reservations."""
    import ray

    cluster = ray.cluster_resources()
    cluster_cpus, cluster_gpus = cluster.get("CPU", 1), cluster.get("GPU", 0)
    gpus = options.gpus_per_worker
    if gpus is None:
        gpus = 1.0 if cluster_gpus >= 1 else 0.0
    workers = options.workers
    if workers is None:
        workers = int(cluster_gpus // gpus) if gpus > 0 else int(cluster_cpus - cluster_cpus // 8)
        workers = max(1, min(workers, n_files // options.batch_size))
    cpus, note = options.cpus_per_worker, ""
    spare = cluster_cpus - 1
    if workers * cpus > spare:
        cpus = max(spare / workers, 0.1)
        if options.workers is not None:
            note = (f"{workers} worker(s) × {options.cpus_per_worker} CPU would leave no CPU to read "
                    f"scans; using {cpus:g} CPU per worker")
    threads = options.torch_threads
    if threads is None and gpus == 0:
        threads = max(1, int(cluster_cpus // workers))
    return WorkerResources(workers, gpus, cpus, threads, note)


def _input_blocks(n_files: int, batch_size: int, workers: int) -> int:
    """How many blocks the file list is cut into: about eight batches each (fewer blocks mean fewer
    write tasks, staged files and scheduling rounds: on 2 cores this took the driver's CPU time from
    2.3 to 1.0 s for 2,000 scans), but at least four per actor so every actor stays busy, and a
    multiple of the actors so that they run out of work together rather than one finishing the last
    block alone."""
    blocks = min(max(n_files // (batch_size * 8), min(4 * workers, n_files // batch_size)), 256)
    blocks = -(-blocks // workers) * workers
    return max(1, min(blocks, n_files))


def run_scoring(options: ScoreOptions) -> dict:
    """Score ``options.archive`` into the report ``options.out``; returns the _SUCCESS content.

    Fails before any work when the model, the inputs, the output or the model's modality is
    unusable; a bad scan file never fails the job (it is an error row)."""
    import ray

    started, clock = datetime.now(UTC), time.perf_counter()
    model = load_scoring_model(options.model, "cpu", options.threshold)
    root, inputs = list_inputs(options.archive)
    out = locate(options.out)
    check_output(out, root)
    check_modality(root, inputs, model.input_modality)
    resources = _resources(options, len(inputs))
    if resources.note:
        print(f"note: {resources.note}")
    warnings = [w for w in (pitch_warning(root.uri, inputs, model.input_pitch_mm, model.image_size),) if w]
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    config = {**asdict(options), "fault_marker": None, "threshold": model.threshold,
              "workers": resources.workers, "gpus_per_worker": resources.gpus,
              "cpus_per_worker": resources.cpus, "torch_threads": resources.torch_threads,
              "archive": root.uri, "out": out.uri, "model": model.uri}
    metadata = report_metadata(model.sha256, config)
    tmp = Location(out.fs, f"{out.path.rstrip('/')}.tmp-{uuid.uuid4().hex[:12]}",
                   f"{out.uri.rstrip('/')}.tmp")
    ray.data.DataContext.get_current().enable_progress_bars = options.progress
    try:
        blocks = _input_blocks(len(inputs), options.batch_size, resources.workers)
        dataset = ray.data.from_items([i.as_row() for i in inputs], override_num_blocks=blocks)
        decoded = dataset.map_batches(
            decode_batch, batch_size=options.batch_size, num_cpus=1,
            fn_kwargs={"root": root, "modality": model.input_modality, "size": model.image_size})
        scored = decoded.map_batches(
            Scorer, batch_size=options.batch_size, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=resources.workers), num_gpus=resources.gpus,
            num_cpus=resources.cpus,
            fn_constructor_kwargs={"model_uri": options.model, "threshold": model.threshold,
                                   "device": "cuda" if resources.gpus > 0 else "cpu",
                                   "torch_threads": resources.torch_threads,
                                   "fault_marker": options.fault_marker})
        prepared = time.perf_counter()
        scored.write_parquet(tmp.join(STAGING), filesystem=tmp.fs, schema=STAGED_SCHEMA)
        streamed = time.perf_counter()
        expected = {(i.scan_id, i.source) for i in inputs}
        assembly = assemble(tmp, metadata, expected, options.overlays)
        assembled = time.perf_counter()
        overlays = []
        if assembly.top:
            by_key = {(i.scan_id, i.source): i for i in inputs}
            overlays = write_overlays(model, root, [by_key[(scan_id, source)]
                                                    for _, source, scan_id in assembly.top], tmp)
        wall = time.perf_counter() - clock
        success = write_success(tmp, assembly.counts, {
            "timings": {"started_at": started.isoformat(), "finished_at": datetime.now(UTC).isoformat(),
                        "wall_s": round(wall, 3), "scans_per_s": round(assembly.counts.files / wall, 3),
                        "prepare_s": round(prepared - clock, 3), "stream_s": round(streamed - prepared, 3),
                        "assemble_s": round(assembled - streamed, 3)},
            "model": {"uri": model.uri, "sha256": model.sha256, "pipeline": model.pipeline,
                      "backbone": model.trial.backbone, "modality": model.modality,
                      "image_size": model.image_size, "threshold": model.threshold},
            "config": config, "overlays": overlays, "warnings": warnings,
            "dualscan_version": metadata["dualscan.version"]})
        publish(tmp, out)
    finally:
        if tmp.exists():
            tmp.remove_tree()
    return success
