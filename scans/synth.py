"""DEEi-like synthetic archives: scenes -> physics -> detector -> archive v1, in parallel."""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from multiprocessing import get_context
from typing import Literal

import numpy as np
from pydantic import BaseModel, model_validator

from scans.archive import finish_archive, prepare_archive, write_scan
from scans.phantoms.anomalies import ANOMALIES
from scans.phantoms.catalogue import MODELS_PER_CLASS, model_splits
from scans.phantoms.scene import DEFAULT_FOV_CM, Scene, compose_scene
from scans.phantoms.worlds import DEFAULT_WORLD, WORLDS, world_classes
from scans.physics.calibration import effective_z
from scans.physics.colour import render_pseudo_colour
from scans.physics.detector import DetectorNoise
from scans.physics.forward import transmissions
from scans.physics.spectrum import ScannerModel
from scans.preview import png_bytes
from scans.progress import progress_of
from scans.record import Scan
from scans.schema import STRICT
from scans.splits import SPLITS
from scans.storage import Location

GENERATOR = "dualscan-synth"


class SynthConfig(BaseModel):
    """Everything that determines a synthetic archive: the same config gives the same bytes."""

    model_config = STRICT

    world: int = DEFAULT_WORLD  # 1: one template per class, fixed hiding places; 2: many models
    # "model" (world 2's default): val and test scans hold only models that train never saw
    split_by: Literal["scan", "model"] = "scan"
    hold_out_class: str = ""  # an item class that appears only in test scans (a new item type)
    n: int = 64
    size: int = 256
    size_jitter: float = 0.0  # each scan's height and width drawn in [size·(1 − jitter), size], same pitch
    seed: int = 0
    split: float = 0.7  # fraction of scans in train; the rest test (val carved from train)
    val: float = 0.1  # fraction of all scans in val, carved from train
    anomaly_rate: float = 0.5  # probability that an item hides an anomaly
    anomaly_kinds: tuple[str, ...] = ()  # the kinds drawn from (ANOMALIES names); empty: all
    anomaly_scale: float = 1.0  # anomaly sizes and thicknesses × this (large, dense, easy: for tests)
    anomaly_aligned: bool = False  # anomalies along their item's axes (same kinds, places, sizes)
    item_classes: tuple[str, ...] = ()  # the item classes drawn from (the world's); empty: all
    min_items: int = 1
    max_items: int = 3
    fov_cm: float = DEFAULT_FOV_CM  # the tray's field of view, filling the image unless pitch_mm is set
    pitch_mm: float | None = None  # detector pitch; the image then spans size × pitch_mm
    previews: bool = True
    scanner: ScannerModel = ScannerModel()
    noise: DetectorNoise = DetectorNoise()

    @model_validator(mode="before")
    @classmethod
    def _world_defaults(cls, data):
        """World 2 splits by model unless told otherwise."""
        if isinstance(data, dict) and "split_by" not in data:
            world = data.get("world", DEFAULT_WORLD)
            data = {**data, "split_by": "model" if world == 2 else "scan"}
        return data

    @model_validator(mode="after")
    def _in_range(self) -> SynthConfig:
        checks = {
            "n": self.n >= 1,
            "size": 16 <= self.size <= 4096,
            "size_jitter": 0.0 <= self.size_jitter <= 0.9 and self.size * (1 - self.size_jitter) >= 16,
            "split": 0.0 <= self.split <= 1.0,
            "val": 0.0 <= self.val <= self.split,
            "anomaly_rate": 0.0 <= self.anomaly_rate <= 1.0,
            "min_items": 0 <= self.min_items <= self.max_items,
            "anomaly_scale": 0.1 <= self.anomaly_scale <= 10.0,
            "pitch_mm": self.pitch_mm is None or 0.05 <= self.pitch_mm <= 50.0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"synth config: {name}={getattr(self, name)!r} is out of range")
        if str(self.world) not in WORLDS:
            raise ValueError(f"synth config: world={self.world} is not a world; known: {', '.join(WORLDS)}")
        classes = world_classes(self.world)
        no_class = f"item_classes: world {self.world} has no class"
        for names, valid, what in ((self.anomaly_kinds, sorted(ANOMALIES), "anomaly_kinds: unknown kind"),
                                   (self.item_classes, classes, no_class)):
            for name in names:
                if name not in valid:
                    raise ValueError(f"synth config: {what} {name!r}; valid: {', '.join(valid)}")
        if self.split_by == "model" and not WORLDS[str(self.world)].has_models:
            raise ValueError(f"synth config: split_by='model' needs a world of many models (world 2); "
                             f"world {self.world} has one design per class")
        if self.hold_out_class:
            drawn = self.item_classes or classes
            if self.hold_out_class not in drawn:
                raise ValueError(f"synth config: hold_out_class {self.hold_out_class!r} is not among the "
                                 f"classes drawn ({', '.join(drawn)})")
            if len(drawn) < 2:
                raise ValueError("synth config: hold_out_class leaves train and val without items; "
                                 "draw at least one other class")
        return self

    @property
    def resolved_pitch_mm(self) -> float:
        """The detector pitch: as set, else the tray's field of view across the image."""
        return self.pitch_mm if self.pitch_mm is not None else self.fov_cm * 10.0 / self.size

    @property
    def field_cm(self) -> float:
        """The side of the imaged field in cm."""
        return self.resolved_pitch_mm * self.size / 10.0


def scan_id(index: int) -> str:
    """Id of the index-th synthetic scan."""
    return f"scan_{index:06d}"


@cache
def _splits(seed: int, n: int, split: float, val: float) -> tuple[str, ...]:
    """Every scan's split, computed once per archive config."""
    order = np.random.default_rng([seed, 0x5117]).permutation(n)
    n_train, n_val = round(split * n), round(val * n)
    by_rank = ["val"] * n_val + ["train"] * (n_train - n_val) + ["test"] * (n - n_train)
    out = [""] * n
    for rank, index in enumerate(order):
        out[index] = by_rank[rank]
    return tuple(out)


def split_of(config: SynthConfig, index: int) -> str:
    """Split of scan ``index``: exact fractions, from a permutation seeded by the config."""
    return _splits(config.seed, config.n, config.split, config.val)[index]


def scan_shape(config: SynthConfig, index: int) -> tuple[int, int]:
    """(height, width) of scan ``index``: ``size`` square, or with ``size_jitter`` each side drawn
    (from its own seeded stream, so that the scene's draws do not depend on it) at the same pitch."""
    if config.size_jitter == 0:
        return config.size, config.size
    smallest = round(config.size * (1 - config.size_jitter))
    height, width = np.random.default_rng([config.seed, index, 0x512E]).integers(smallest, config.size + 1, 2)
    return int(height), int(width)


def synth_scan(config: SynthConfig, index: int) -> Scan:
    """Scan ``index`` of the archive; depends only on (config, index), never on the worker."""
    return synth_scene(config, index)[0]


def synth_scene(config: SynthConfig, index: int) -> tuple[Scan, Scene]:
    """Scan ``index`` and the scene it was measured from (every material's areal density before
    the detector: what physics pretraining predicts)."""
    rng = np.random.default_rng([config.seed, index])
    pitch = config.resolved_pitch_mm
    height, width = scan_shape(config, index)
    split = split_of(config, index)
    classes, model_ids = drawn_designs(config, split)
    scene = compose_scene(rng, height, width, config.anomaly_rate,
                          (config.min_items, config.max_items), fov_cm=pitch * max(height, width) / 10.0,
                          item_classes=classes, anomaly_kinds=config.anomaly_kinds or None,
                          anomaly_scale=config.anomaly_scale, anomaly_aligned=config.anomaly_aligned,
                          world=config.world, model_ids=model_ids)
    low, high = transmissions(scene.areal_density, scanner=config.scanner)
    low, high = config.noise.apply(low, high, rng, pitch)
    zeff, _ = effective_z(high, low, config.scanner, smooth_sigma=config.noise.zeff_smooth_px(pitch))
    return Scan(
        scan_id(index),
        high=high,
        low=low,
        zeff=zeff,
        pseudo=render_pseudo_colour(zeff, high),
        objects=scene.objects,
        object_class=np.array(scene.object_class, dtype=np.str_).reshape(-1),
        object_anomalous=np.array(scene.object_anomalous, dtype=bool).reshape(-1),
        parts=scene.parts,
        anomaly=scene.anomaly,
        object_anomaly_kind=np.array(scene.anomaly_kinds, dtype=np.str_).reshape(-1),
        object_model=(None if scene.object_model is None
                      else np.array(scene.object_model, dtype=np.str_).reshape(-1)),
        split=split,
        source=source_of(config),
        meta={"pitch_mm": pitch},
    ), scene


def drawn_designs(config: SynthConfig, split: str
                  ) -> tuple[tuple[str, ...] | None, dict[str, list[int]] | None]:
    """The item classes a scan of ``split`` draws (None: all of the world's) and, split by model,
    each class's models it may draw (the split's share; a held-out class only in test, every model)."""
    classes = config.item_classes or None
    if config.hold_out_class:
        every = config.item_classes or world_classes(config.world)
        classes = every if split == "test" else tuple(c for c in every if c != config.hold_out_class)
    if config.split_by != "model":
        return classes, None
    model_ids = {c: model_splits(c)[split] for c in (classes or world_classes(config.world))}
    if config.hold_out_class and split == "test":
        model_ids[config.hold_out_class] = list(range(MODELS_PER_CLASS))
    return classes, model_ids


def models_by_split(config: SynthConfig) -> dict[str, dict[str, list[int]]] | None:
    """What archive.json records of a split by model: per split, each class's model ids."""
    if config.split_by != "model":
        return None
    return {split: {c: ids for c, ids in (drawn_designs(config, split)[1] or {}).items()} for split in SPLITS}


def source_of(config: SynthConfig) -> str:
    """The manifest's ``source`` of every scan of a synthetic archive: generator, seed and pitch."""
    return f"{GENERATOR}:seed={config.seed}:pitch_mm={config.resolved_pitch_mm:.4g}"


def _write_one(args: tuple[SynthConfig, Location, int]) -> dict:
    config, root, index = args
    scan = synth_scan(config, index)
    return write_scan(root, scan, png_bytes(scan.pseudo) if config.previews else None)


# the thread pools of numpy's BLAS and OpenMP: a worker process of synthesis is one core's work (its
# matrix products are small), and a pool of two per worker on two cores spins for nothing
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def one_thread_per_library():
    """Worker processes spawned inside start with one BLAS and OpenMP thread each (a variable the
    user set is kept)."""
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)


def synthesise(config: SynthConfig, out: str, workers: int | None = None,
               progress: bool = True, only_splits: tuple[str, ...] = ()) -> Location:
    """Write a synthetic archive v1 to ``out``; parallel over ``workers`` processes. ``only_splits``
    writes just those splits' scans, each byte for byte as the whole archive holds it (to re-score
    a seeded archive's val or test without drawing its train scans)."""
    unknown = sorted(set(only_splits) - set(SPLITS))
    if unknown:
        raise ValueError(f"{', '.join(unknown)} is not a split; known: {', '.join(SPLITS)}")
    root = prepare_archive(out)
    indices = [i for i in range(config.n) if not only_splits or split_of(config, i) in only_splits]
    workers = max(1, min(workers or os.cpu_count() or 1, len(indices) or 1))
    jobs = [(config, root, i) for i in indices]
    bar = progress_of("synth", len(jobs), "scans", enabled=progress)
    if workers == 1:
        rows = []
        for job in jobs:
            rows.append(_write_one(job))
            bar.update()
    else:
        with one_thread_per_library(), ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            rows = []
            for row in pool.map(_write_one, jobs, chunksize=max(1, min(16, len(jobs) // (4 * workers)))):
                rows.append(row)
                bar.update()
    bar.close()
    info = {"generator": GENERATOR, "pitch_mm": config.resolved_pitch_mm, "config": _config_dict(config),
            "zeff_calibration": "simulator"}
    if only_splits:
        info["only_splits"] = sorted(only_splits)
    if (models := models_by_split(config)) is not None:
        info["models_by_split"] = models
    finish_archive(root, rows, info)
    return root


def _config_dict(config: SynthConfig) -> dict:
    data = config.model_dump()
    data["anomaly_kinds"], data["item_classes"] = list(config.anomaly_kinds), list(config.item_classes)
    data["scanner"] = config.scanner.as_dict()
    data["noise"] = config.noise.as_dict()
    return data
