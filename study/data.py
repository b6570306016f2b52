"""Training data of a study: an archive's splits as tensors, resized, cached once per node."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from scans.archive import Archive
from scans.modalities import build_input, modality_channels

if TYPE_CHECKING:
    from study.config import DataConfig

SPLIT_KEYS = ("images", "parts", "anomaly", "objects", "object_anomalous", "n_objects")
_MEMORY: dict[str, StudyData] = {}


@dataclass
class SplitData:
    """One split as tensors: images (N, C, S, S) float32; parts, objects (N, S, S) int32; anomaly
    (N, S, S) uint8; object_anomalous (N, max objects) bool, padded; n_objects (N,) int64."""

    scan_ids: list[str]
    images: torch.Tensor
    parts: torch.Tensor
    anomaly: torch.Tensor
    objects: torch.Tensor
    object_anomalous: torch.Tensor
    n_objects: torch.Tensor

    def __len__(self) -> int:
        return len(self.scan_ids)

    def batch(self, index: torch.Tensor | slice, device: torch.device) -> Batch:
        """The scans at ``index`` on ``device``."""
        return Batch(self.images[index].to(device), self.parts[index].to(device),
                     self.anomaly[index].to(device), self.objects[index].to(device),
                     self.object_anomalous[index].to(device), self.n_objects[index].tolist())


@dataclass
class Batch:
    """A batch of scans on one device (see SplitData for shapes)."""

    images: torch.Tensor
    parts: torch.Tensor
    anomaly: torch.Tensor
    objects: torch.Tensor
    object_anomalous: torch.Tensor
    n_objects: list[int]

    def anomalous_flags(self) -> list[torch.Tensor]:
        """Per scan, (n_objects,) bool: which items hold an anomaly."""
        return [row[:n] for row, n in zip(self.object_anomalous, self.n_objects, strict=True)]


@dataclass
class StudyData:
    """Train and test splits, and the split thresholds are chosen on (val, else train)."""

    train: SplitData
    test: SplitData
    threshold: SplitData
    threshold_split: str


def resize_square(array: np.ndarray, size: int, labels: bool) -> np.ndarray:
    """C×H×W (or H×W labels) to size×size: area averaging for images, nearest for label maps."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if labels:
        out = F.interpolate(tensor[None, None].float(), size=(size, size), mode="nearest")[0, 0]
        return out.numpy().astype(array.dtype)
    mode = "area" if array.shape[-1] >= size else "bilinear"
    return F.interpolate(tensor[None], size=(size, size), mode=mode)[0].numpy().astype(np.float32)


def _split_ids(archive: Archive, config: DataConfig) -> dict[str, list[str]]:
    ids = archive.scan_ids[: config.max_scans] if config.max_scans else archive.scan_ids
    if config.split == "random":
        order = np.random.default_rng(config.split_seed).permutation(len(ids))
        n_train = round(config.train_fraction * len(ids))
        return {"train": [ids[i] for i in sorted(order[:n_train])], "val": [],
                "test": [ids[i] for i in sorted(order[n_train:])]}
    keep = set(ids)
    return {s: [i for i in archive.ids_in_split(s) if i in keep] for s in ("train", "val", "test")}


def _read_split(archive: Archive, ids: list[str], modality: str, size: int) -> dict[str, np.ndarray]:
    out = {"images": np.zeros((len(ids), modality_channels(modality), size, size), np.float32),
           "parts": np.zeros((len(ids), size, size), np.int32),
           "anomaly": np.zeros((len(ids), size, size), np.uint8),
           "objects": np.zeros((len(ids), size, size), np.int32),
           "n_objects": np.zeros(len(ids), np.int64)}
    flags = []
    for i, scan_id in enumerate(ids):
        scan = archive.read(scan_id)
        if not scan.has_labels:
            raise ValueError(f"{archive.file_uri(scan_id)}: training needs labels "
                             "(objects, parts, anomaly), this scan has none")
        out["images"][i] = resize_square(build_input(scan, modality), size, labels=False)
        for key in ("parts", "anomaly", "objects"):
            out[key][i] = resize_square(getattr(scan, key), size, labels=True)
        flags.append(np.asarray(scan.object_anomalous, dtype=bool))
        out["n_objects"][i] = scan.n_objects
    out["object_anomalous"] = np.zeros((len(ids), max([len(f) for f in flags] + [1])), dtype=bool)
    for row, f in zip(out["object_anomalous"], flags, strict=True):
        row[: len(f)] = f
    return out


def _as_split(ids: list[str], arrays: dict[str, np.ndarray]) -> SplitData:
    return SplitData(ids, *(torch.from_numpy(arrays[k]) for k in SPLIT_KEYS))


def cache_key(config: DataConfig, modality: str, archive: Archive) -> str:
    """Changes with anything that changes the tensors: archive identity, modality, size, split."""
    identity = {"archive": archive.uri, "info": archive.info, "n": len(archive), "modality": modality,
                **config.model_dump(exclude={"cache"})}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:20]


def load_study_data(config: DataConfig, modality: str) -> StudyData:
    """The splits for one modality: from this process's memory, else the node's cache file, else
    read from the archive once and cached (np.savez, loaded with allow_pickle=False)."""
    archive = Archive(config.archive)
    key = cache_key(config, modality, archive)
    if key in _MEMORY:
        return _MEMORY[key]
    ids = _split_ids(archive, config)
    if not ids["train"] or not ids["test"]:
        raise ValueError(f"data.split: {config.split!r} gives {len(ids['train'])} train and "
                         f"{len(ids['test'])} test scans in {archive.uri}; both must be non-empty")
    cache_dir = os.path.expanduser(config.cache) if config.cache else tempfile.gettempdir()
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, f"dualscan-data-{key}.npz")
    splits: dict[str, SplitData] = {}
    if os.path.exists(path):
        with np.load(path, allow_pickle=False) as npz:
            for split, split_ids in ids.items():
                splits[split] = _as_split(split_ids, {k: npz[f"{split}/{k}"] for k in SPLIT_KEYS})
    else:
        flat = {}
        for split, split_ids in ids.items():
            arrays = _read_split(archive, split_ids, modality, config.image_size)
            splits[split] = _as_split(split_ids, arrays)
            flat.update({f"{split}/{k}": v for k, v in arrays.items()})
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **flat)
        os.replace(tmp, path)
    use_val = len(splits["val"]) > 0
    data = StudyData(splits["train"], splits["test"], splits["val"] if use_val else splits["train"],
                     "val" if use_val else "train")
    _MEMORY[key] = data
    return data
