"""A scoring job end to end: checks before any work, the Ray Data stream, then the report published."""

from __future__ import annotations

import contextlib
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, model_validator

from jobs.scoring.batches import Scorer, decode_batch
from jobs.scoring.inputs import InputFile, archive_truth, check_modality, export_settings, list_inputs
from jobs.scoring.item_crops import write_item_crops
from jobs.scoring.overlays import GROUPS, write_overlays
from jobs.scoring.pitch import pitch_warning
from jobs.scoring.progress import ScoringProgress
from jobs.scoring.report import Assembly, check_output, finish_parts, publish, write_success
from jobs.scoring.resources import WorkerResources, configured_maximum, scorer_resources
from jobs.scoring.schema import report_metadata
from jobs.scoring.sink import ReportSink
from jobs.shared_paths import check_shared_paths
from models.trained import TrainedModel, load_trained_model
from scans.exports import ExportSettings, RawScale, raw_scale_from_values
from scans.limits import ReadLimits
from scans.progress import is_terminal
from scans.schema import STRICT
from scans.storage import Location, locate


class ScoreOptions(BaseModel):
    """Everything a scoring job is asked to do (the CLI's flags), validated when made; resolved
    values are recorded in the report's metadata and _SUCCESS."""

    model_config = STRICT

    archive: str
    model: str
    out: str
    batch_size: int = 16
    workers: int | None = None  # a fixed pool; None: autoscaling, see scoring.resources
    min_workers: int = 1
    max_workers: int | None = None  # None: the cluster's configured maximum, else what it has now
    gpus_per_worker: float | None = None  # None: 1 when the cluster has or may get GPUs, else 0
    cpus_per_worker: float = 1.0
    worker_resources: dict[str, float] = {}  # custom Ray resources per actor
    threshold: float | None = None
    overlays: int = 0
    torch_threads: int | None = None
    progress: bool = True
    max_pixels: int | None = None  # per image array; None: DUALSCAN_MAX_PIXELS, else 8192 × 8192
    raw_air: float | None = None  # raw exports' value in air; None: raw_scale.json, else full scale
    raw_dark: float | None = None  # raw exports' value with the beam off (default 0)
    zeff_calibration: str | None = None  # a calibration file or "simulator"; None: the inputs' own
    runtime: Literal["torch", "onnx"] = "torch"  # what runs the networks (models.onnx_networks)

    @model_validator(mode="after")
    def _in_range(self) -> ScoreOptions:
        checks = {"batch_size": self.batch_size >= 1, "workers": self.workers is None or self.workers >= 1,
                  "min_workers": self.min_workers >= 1,
                  "max_workers": self.max_workers is None or self.max_workers >= self.min_workers,
                  "cpus_per_worker": self.cpus_per_worker > 0, "overlays": self.overlays >= 0,
                  "gpus_per_worker": self.gpus_per_worker is None or self.gpus_per_worker >= 0,
                  "max_pixels": self.max_pixels is None or self.max_pixels >= 1}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"--{name.replace('_', '-')}: {getattr(self, name)!r} is out of range")
        for name, amount in self.worker_resources.items():
            if not name or name in {"CPU", "GPU", "memory", "object_store_memory"} or not amount > 0:
                raise ValueError(f"--worker-resource {name}={amount}: a custom resource's name and an amount "
                                 "above 0 (CPUs and GPUs have --cpus-per-worker and --gpus-per-worker)")
        self.read_limits()  # a bad --max-pixels or DUALSCAN_* fails here, before any work
        self.raw_scale()
        return self

    def raw_scale(self) -> RawScale | None:
        """The raw scale --raw-air/--raw-dark give; None when neither is given."""
        if self.raw_air is None and self.raw_dark is None:
            return None
        return raw_scale_from_values(self.raw_air, self.raw_dark)

    def read_limits(self) -> ReadLimits:
        """What one input file may ask of a reader: the environment's limits and ``--max-pixels``."""
        return ReadLimits.from_env().with_max_pixels(self.max_pixels)


def _input_blocks(n_files: int, batch_size: int, workers: int) -> int:
    """How many blocks the file list is cut into: about eight batches each (fewer blocks mean fewer
    write tasks, staged files and scheduling rounds: less driver CPU, BENCHMARKS.md Batch scoring),
    but at least four per actor so every actor stays busy, and a multiple of the actors so that they
    run out of work together rather than one finishing the last block alone."""
    blocks = min(max(n_files // (batch_size * 8), min(4 * workers, n_files // batch_size)), 256)
    blocks = -(-blocks // workers) * workers
    return max(1, min(blocks, n_files))


@dataclass(frozen=True)
class _Plan:
    """What a scoring job resolved and checked before any work."""

    options: ScoreOptions
    model: TrainedModel
    limits: ReadLimits
    root: Location
    inputs: list[InputFile]
    out: Location
    settings: ExportSettings
    resources: WorkerResources
    warnings: list[str]
    config: dict  # the resolved options, as the report's metadata and _SUCCESS record them


def _plan(options: ScoreOptions, cluster: dict[str, float]) -> _Plan:
    """Load the model, list the inputs and check the output and the model's modality (failing
    before any work), size the scorer pool on ``cluster``'s resources; notes and warnings printed."""
    model = load_trained_model(options.model, "cpu", options.threshold, options.runtime)
    limits = options.read_limits()
    root, inputs = list_inputs(options.archive)
    out = locate(options.out)
    check_output(out, root)
    settings = export_settings(root, options.raw_scale(), options.zeff_calibration)
    check_modality(root, inputs, model.input_modality, limits, settings)
    resources = scorer_resources(options, len(inputs), cluster, configured_maximum())
    if resources.note:
        print(f"note: {resources.note}")
    warnings = [w for w in (pitch_warning(root.uri, inputs, model.input_pitch_mm, model.image_size),
                            model.numerics_warning()) if w]
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    config = {**options.model_dump(), "threshold": model.threshold,
              "workers": resources.workers, "min_workers": resources.min_workers,
              "max_workers": resources.max_workers, "gpus_per_worker": resources.gpus,
              "cpus_per_worker": resources.cpus, "torch_threads": resources.torch_threads,
              "archive": root.uri, "out": out.uri, "model": model.uri, "read_limits": limits.model_dump(),
              "raw_scale": settings.raw_scale.describe(),
              "zeff_calibration": options.zeff_calibration or (
                  None if settings.zeff_calibration is None else
                  "simulator" if isinstance(settings.zeff_calibration, str) else "the inputs' own")}
    return _Plan(options, model, limits, root, inputs, out, settings, resources, warnings, config)


def _scored_dataset(plan: _Plan, scorer: type[Scorer]):
    """The Ray Data stream: the input rows in blocks, decoded by tasks, scored by a pool of
    ``scorer`` actors."""
    import ray

    options, resources, model = plan.options, plan.resources, plan.model
    blocks = _input_blocks(len(plan.inputs), options.batch_size, resources.max_workers)
    pool = (ray.data.ActorPoolStrategy(size=resources.workers) if options.workers is not None else
            ray.data.ActorPoolStrategy(min_size=resources.min_workers, max_size=resources.max_workers,
                                       initial_size=resources.workers))
    dataset = ray.data.from_items([i.as_row() for i in plan.inputs], override_num_blocks=blocks)
    decoded = dataset.map_batches(
        decode_batch, batch_size=options.batch_size, num_cpus=1,
        fn_kwargs={"root": plan.root, "modality": model.input_modality, "size": model.image_size,
                   "limits": plan.limits, "settings": plan.settings})
    return decoded.map_batches(
        scorer, batch_size=options.batch_size, batch_format="numpy",
        compute=pool, num_gpus=resources.gpus,
        num_cpus=resources.cpus, resources=options.worker_resources or None,
        fn_constructor_kwargs={"model_uri": options.model, "threshold": model.threshold,
                               "device": "cuda" if resources.gpus > 0 else "cpu",
                               "torch_threads": resources.torch_threads, "runtime": options.runtime})


def _stream(plan: _Plan, scored, tmp: Location, metadata: dict) -> ReportSink:
    """Run the stream into ``tmp``: the write tasks write the scans, segments and items parts
    themselves; the sink keeps their manifests."""
    options = plan.options
    # Ray Data's bars on a terminal; elsewhere (CI, logs, `ray job logs`) a line every 30 s at most
    lines = ScoringProgress(len(plan.inputs)) if options.progress and not is_terminal(sys.stdout) else None
    sink = ReportSink(tmp, metadata, options.overlays,
                      archive_truth(plan.root, plan.inputs) if options.overlays else None,
                      lines.counter if lines is not None else None)
    with lines or contextlib.nullcontext():
        scored.write_datasink(sink)
    return sink


def _pictures(plan: _Plan, assembly: Assembly, tmp: Location) -> tuple[dict[str, list[str]], list]:
    """The overlays of each group the assembly chose and the top items' crops, written under ``tmp``."""
    by_key = {(i.scan_id, i.source): i for i in plan.inputs}
    chosen = {group: [by_key[(scan_id, source)] for _, source, scan_id in getattr(assembly, group)]
              for group in GROUPS if getattr(assembly, group)}
    groups = {group: write_overlays(plan.model, plan.root, inputs, tmp, group, plan.limits, plan.settings)
              for group, inputs in chosen.items()}
    crops = write_item_crops(plan.root, by_key, assembly.top_items, tmp, plan.limits, plan.settings)
    return groups, crops


def _success(plan: _Plan, metadata: dict, groups: dict[str, list[str]], crops: list, timings: dict) -> dict:
    """What _SUCCESS records besides the counts: timings, the model, the resolved config, the pictures
    and the warnings."""
    model = plan.model
    return {"timings": timings,
            "model": {"uri": model.uri, "sha256": model.sha256, "pipeline": model.pipeline,
                      "backbone": model.spec.backbone, "modality": model.modality,
                      "image_size": model.image_size, "threshold": model.threshold},
            "config": plan.config, "overlays": [name for names in groups.values() for name in names],
            "overlay_groups": groups, "item_crops": crops, "warnings": plan.warnings,
            "dualscan_version": metadata["dualscan.version"]}


def run_scoring(options: ScoreOptions, scorer: type[Scorer] = Scorer) -> dict:
    """Score ``options.archive`` into the report ``options.out`` with ``scorer`` actors (Scorer or a
    subclass); returns the _SUCCESS content.

    Fails before any work when the model, the inputs, the output or the model's modality is
    unusable; a bad scan file never fails the job (it is an error row). The report is written
    under a temporary folder and published whole."""
    import ray

    started, clock = datetime.now(UTC), time.perf_counter()
    plan = _plan(options, ray.cluster_resources())
    metadata = report_metadata(plan.model.sha256, plan.config)
    out = plan.out
    tmp = Location(out.fs, f"{out.path.rstrip('/')}.tmp-{uuid.uuid4().hex[:12]}",
                   f"{out.uri.rstrip('/')}.tmp")
    ray.data.DataContext.get_current().enable_progress_bars = options.progress
    try:
        tmp.makedirs()
        local = {"--archive": plan.root, "--model": locate(options.model), "--out": tmp}
        check_shared_paths({name: where.path for name, where in local.items() if where.is_local})
        scored = _scored_dataset(plan, scorer)
        prepared = time.perf_counter()
        sink = _stream(plan, scored, tmp, metadata)
        streamed = time.perf_counter()
        assembly = finish_parts(tmp, sink.manifests, [(i.scan_id, i.source) for i in plan.inputs],
                                options.overlays)
        assembled = time.perf_counter()
        groups, crops = _pictures(plan, assembly, tmp)
        wall = time.perf_counter() - clock
        timings = {"started_at": started.isoformat(), "finished_at": datetime.now(UTC).isoformat(),
                   "wall_s": round(wall, 3), "scans_per_s": round(assembly.counts.files / wall, 3),
                   "prepare_s": round(prepared - clock, 3), "stream_s": round(streamed - prepared, 3),
                   "assemble_s": round(assembled - streamed, 3)}
        success = write_success(tmp, assembly.counts, _success(plan, metadata, groups, crops, timings))
        publish(tmp, out)
    finally:
        if tmp.exists():
            tmp.remove_tree()
    return success
