"""Training data of a study: an archive's splits as tensors, resized, cached once per node."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from models.inputs import resize_square, resized_pitch_mm
from scans.archive import Archive
from scans.modalities import build_input, modality_channels
from scans.node_cache import cache_root, cached_arrays
from scans.provenance import archive_record
from study.data_config import DataConfig

TENSOR_KEYS = ("images", "parts", "anomaly", "objects", "object_anomalous", "n_objects")
# per item, padded like object_anomalous: its anomaly kind ("" benign), class and model ("" unknown)
TEXT_KEYS = ("object_kind", "object_class", "object_model")
SPLIT_KEYS = TENSOR_KEYS + TEXT_KEYS
# bumped whenever the cached arrays change (2: object_kind, 3: .npy directories, 4: class and model)
CACHE_FORMAT = 4
_MEMORY: dict[str, StudyData] = {}


@dataclass
class SplitData:
    """One split as tensors: images (N, C, S, S) float32; parts, objects (N, S, S) int32; anomaly
    (N, S, S) uint8; object_anomalous (N, max objects) bool, padded; n_objects (N,) int64; and as
    numpy arrays (N, max objects) unicode each item's object_kind ("" for benign items or unknown
    kinds), object_class and object_model ("" where unknown)."""

    scan_ids: list[str]
    images: torch.Tensor
    parts: torch.Tensor
    anomaly: torch.Tensor
    objects: torch.Tensor
    object_anomalous: torch.Tensor
    n_objects: torch.Tensor
    object_kind: np.ndarray
    object_class: np.ndarray
    object_model: np.ndarray

    def __len__(self) -> int:
        return len(self.scan_ids)

    def __reduce__(self):
        """Pickled as numpy arrays, which Ray's object store hands back without a copy (a torch
        tensor would be copied into every trial that gets it)."""
        arrays = {k: getattr(self, k).numpy() for k in TENSOR_KEYS}
        return _as_split, (self.scan_ids, {**arrays, **{k: getattr(self, k) for k in TEXT_KEYS}})

    def batch(self, index: torch.Tensor | slice, device: torch.device) -> Batch:
        """The scans at ``index`` on ``device``."""
        rows = index.numpy() if isinstance(index, torch.Tensor) else index
        return Batch(self.images[index].to(device), self.parts[index].to(device),
                     self.anomaly[index].to(device), self.objects[index].to(device),
                     self.object_anomalous[index].to(device), self.n_objects[index].tolist(),
                     self.object_kind[rows], self.object_class[rows], self.object_model[rows])


@dataclass
class Batch:
    """A batch of scans on one device (see SplitData for shapes)."""

    images: torch.Tensor
    parts: torch.Tensor
    anomaly: torch.Tensor
    objects: torch.Tensor
    object_anomalous: torch.Tensor
    n_objects: list[int]
    object_kind: np.ndarray  # (B, max objects) unicode
    object_class: np.ndarray  # (B, max objects) unicode
    object_model: np.ndarray  # (B, max objects) unicode

    def anomalous_flags(self) -> list[torch.Tensor]:
        """Per scan, (n_objects,) bool: which items hold an anomaly."""
        return [row[:n] for row, n in zip(self.object_anomalous, self.n_objects, strict=True)]

    def _per_scan(self, padded: np.ndarray) -> list[np.ndarray]:
        return [row[:n] for row, n in zip(padded, self.n_objects, strict=True)]

    def anomaly_kinds(self) -> list[np.ndarray]:
        """Per scan, (n_objects,) unicode: the kind of anomaly each item holds ("" when benign)."""
        return self._per_scan(self.object_kind)

    def item_classes(self) -> list[np.ndarray]:
        """Per scan, (n_objects,) unicode: each item's class ("" when unknown)."""
        return self._per_scan(self.object_class)

    def item_models(self) -> list[np.ndarray]:
        """Per scan, (n_objects,) unicode: the model each item was built from ("" when unknown)."""
        return self._per_scan(self.object_model)


@dataclass
class StudyData:
    """The three splits: train fits, val chooses (objective, threshold, epoch), test reports; and
    the pixel pitch of the archive and of what the model sees after resizing (None when unknown);
    the command that made the archive and its fingerprint (scans.provenance.archive_record)."""

    train: SplitData
    val: SplitData
    test: SplitData
    archive_pitch_mm: float | None = None
    input_pitch_mm: float | None = None
    archive: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """Split sizes, pitches and where the archive came from, for checkpoints and the model card."""
        return {"n_train": len(self.train), "n_val": len(self.val), "n_test": len(self.test),
                "archive_pitch_mm": self.archive_pitch_mm, "input_pitch_mm": self.input_pitch_mm,
                **self.archive}


class NoValSplitError(ValueError):
    """A study's archive and split settings give no val split, so nothing could be chosen honestly."""


def input_pitch_mm(archive: Archive, image_size: int) -> float | None:
    """The pitch of the archive's scans once resized to ``image_size``²."""
    manifest = archive.manifest
    sides = np.maximum(manifest.column("height").to_numpy(), manifest.column("width").to_numpy())
    return resized_pitch_mm(archive.pitch_mm, sides, image_size)


def _split_ids(archive: Archive, config: DataConfig) -> dict[str, list[str]]:
    ids = archive.scan_ids[: config.max_scans] if config.max_scans else archive.scan_ids
    if config.split == "random":
        order = np.random.default_rng(config.split_seed).permutation(len(ids))
        n_fit, n_val = round(config.train_fraction * len(ids)), round(config.val_fraction * len(ids))
        return {"train": [ids[i] for i in sorted(order[n_val:n_fit])],
                "val": [ids[i] for i in sorted(order[:n_val])],
                "test": [ids[i] for i in sorted(order[n_fit:])]}
    keep = set(ids)
    return {s: [i for i in archive.ids_in_split(s) if i in keep] for s in ("train", "val", "test")}


def _read_split(archive: Archive, ids: list[str], modality: str, size: int) -> dict[str, np.ndarray]:
    out = {"images": np.zeros((len(ids), modality_channels(modality), size, size), np.float32),
           "parts": np.zeros((len(ids), size, size), np.int32),
           "anomaly": np.zeros((len(ids), size, size), np.uint8),
           "objects": np.zeros((len(ids), size, size), np.int32),
           "n_objects": np.zeros(len(ids), np.int64)}
    flags = []
    text: dict[str, list[np.ndarray]] = {key: [] for key in TEXT_KEYS}
    for i, scan_id in enumerate(ids):
        scan = archive.read(scan_id)
        if not scan.has_labels:
            raise ValueError(f"{archive.file_uri(scan_id)}: training needs labels "
                             "(objects, parts, anomaly), this scan has none")
        out["images"][i] = resize_square(build_input(scan, modality), size, labels=False)
        for key in ("parts", "anomaly", "objects"):
            out[key][i] = resize_square(getattr(scan, key), size, labels=True)
        flags.append(np.asarray(scan.object_anomalous, dtype=bool))
        for key, values in (("object_kind", scan.object_anomaly_kind), ("object_class", scan.object_class),
                            ("object_model", scan.object_model)):
            text[key].append(np.asarray(values if values is not None else [""] * scan.n_objects, np.str_))
        out["n_objects"][i] = scan.n_objects
    width = max([len(f) for f in flags] + [1])
    out["object_anomalous"] = np.zeros((len(ids), width), dtype=bool)
    for row, f in zip(out["object_anomalous"], flags, strict=True):
        row[: len(f)] = f
    for key, rows in text.items():
        longest = max([r.itemsize // 4 for r in rows] + [1])
        out[key] = np.zeros((len(ids), width), dtype=f"<U{longest}")
        for row, values in zip(out[key], rows, strict=True):
            row[: len(values)] = values
    return out


def _as_split(ids: list[str], arrays: dict[str, np.ndarray]) -> SplitData:
    with warnings.catch_warnings():  # read-only arrays of the object store: nothing writes to them
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        tensors = [torch.from_numpy(arrays[k]) for k in TENSOR_KEYS]
    return SplitData(ids, *tensors, *(arrays[k] for k in TEXT_KEYS))


def cache_key(config: DataConfig, modality: str, archive: Archive) -> str:
    """Changes with anything that changes the tensors: archive identity, modality, size, split."""
    identity = {"format": CACHE_FORMAT, "archive": archive.uri, "info": archive.info, "n": len(archive),
                "modality": modality,
                **config.model_dump(exclude={"cache"})}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:20]


def split_ids(config: DataConfig, archive: Archive | None = None) -> dict[str, list[str]]:
    """The scan ids of train, val and test; raises before any work when one is empty, with how to
    get a val split when that one is (reads the manifest only)."""
    archive = archive or Archive(config.archive)
    ids = _split_ids(archive, config)
    if not ids["train"] or not ids["test"]:
        raise ValueError(f"data.split: {config.split!r} gives {len(ids['train'])} train and "
                         f"{len(ids['test'])} test scans in {archive.uri}; both must be non-empty")
    if not ids["val"]:
        how = ("re-synthesise it with `dualscan synth --val 0.1` (the default), give the manifest's "
               "scans the split 'val', or set data.split: random with data.val_fraction: 0.1"
               if config.split == "manifest" else "set data.val_fraction (e.g. 0.1)")
        if config.max_scans and archive.ids_in_split("val"):
            how = f"data.max_scans ({config.max_scans}) keeps none of the archive's val scans: raise it"
        raise NoValSplitError(
            f"{archive.uri}: data.split {config.split!r} gives no val scans. A study chooses its "
            f"objective, threshold and best epoch on val and only reports on test: {how}")
    return ids


def forget_study_data() -> None:
    """Drop this process's references to loaded splits (their memory maps close)."""
    _MEMORY.clear()


def load_study_data(config: DataConfig, modality: str) -> StudyData:
    """The splits for one modality: from this process's memory, else the node's cache (memory-mapped:
    one copy per node however many trials read it), else read from the archive once and cached."""
    archive = Archive(config.archive)
    key = cache_key(config, modality, archive)
    if key in _MEMORY:
        return _MEMORY[key]
    ids = split_ids(config, archive)

    def build() -> dict[str, np.ndarray]:
        flat = {}
        for split, names in ids.items():
            flat.update({f"{split}/{k}": v for k, v in _read_split(archive, names, modality,
                                                                  config.image_size).items()})
        return flat

    arrays = cached_arrays(cache_root(config.cache), f"dualscan-data-{key}", build)
    splits = {split: _as_split(names, {k: arrays[f"{split}/{k}"] for k in SPLIT_KEYS})
              for split, names in ids.items()}
    data = StudyData(splits["train"], splits["val"], splits["test"], archive.pitch_mm,
                     input_pitch_mm(archive, config.image_size), archive_record(archive))
    _MEMORY[key] = data
    return data
