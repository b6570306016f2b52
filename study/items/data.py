"""Item sets: every item of a split cut from its scan at native pitch (true or found masks), in memory."""

from __future__ import annotations

import io
from dataclasses import dataclass, fields

import numpy as np
import torch

from models.catalog import ITEM_INPUTS
from models.items.crops import Box, mask_box
from models.items.matching import match_items
from scans.record import Scan

# every item is kept with the widest margin an item input asks for; narrower inputs trim it
STORED_MARGIN = max(i.margin for i in ITEM_INPUTS.values())


@dataclass
class ItemCrop:
    """One item: its box of the scan's input at native pitch (not yet masked), its mask there, the
    true anomaly pixels and sub-component map inside the box."""

    image: torch.Tensor  # (C, h, w) float32
    mask: torch.Tensor  # (h, w) bool
    anomaly: torch.Tensor  # (h, w) bool
    parts: torch.Tensor  # (h, w) long


@dataclass
class ItemSet:
    """The items of a split, their pixels flat: item i owns pixels offsets[i]:offsets[i+1], an
    h×w box (shapes[i]) of scan scan_index[i]. ``anomalous``/``kind``/``item_class``/``item_model``
    are the truth of the true item it is (found items that match none: benign, "", "", ""; a model
    "" also where the archive records none); ``missed_*`` are true items no found item matches
    (none for a set of true items): a missed anomalous item is a miss. ``named_class`` is what the
    item is called where it is scored: a true item its true class, a found one the class the item
    stage named it ("" where it names none)."""

    scan_ids: np.ndarray  # (n_scans,) unicode
    scan_anomalous: np.ndarray  # (n_scans,) bool: the scan holds an anomalous true item
    scan_index: np.ndarray  # (n,) int64
    boxes: np.ndarray  # (n, 4) int64 x0, y0, x1, y1 in the scan
    shapes: np.ndarray  # (n, 2) int64 h, w
    offsets: np.ndarray  # (n + 1,) int64
    image: np.ndarray  # (C, P) float16 (training sets) or float32 (sets scored as predict scores scans)
    mask: np.ndarray  # (P,) bool
    anomaly: np.ndarray  # (P,) bool
    parts: np.ndarray  # (P,) int16
    anomalous: np.ndarray  # (n,) bool
    kind: np.ndarray  # (n,) unicode
    item_class: np.ndarray  # (n,) unicode
    missed_scan: np.ndarray  # (m,) int64
    missed_anomalous: np.ndarray  # (m,) bool
    missed_kind: np.ndarray  # (m,) unicode
    item_model: np.ndarray  # (n,) unicode
    missed_class: np.ndarray  # (m,) unicode
    missed_model: np.ndarray  # (m,) unicode
    named_class: np.ndarray  # (n,) unicode

    def __len__(self) -> int:
        return len(self.scan_index)

    def item_px(self) -> np.ndarray:
        """(n,) pixels inside each item's mask."""
        return np.add.reduceat(self.mask, self.offsets[:-1]) if len(self) else np.zeros(0, np.int64)

    def crop(self, i: int, margin: int | None = None) -> ItemCrop:
        """Item ``i`` as tensors: its stored crop, or with ``margin`` the mask's box grown by that
        many px (at most the stored margin)."""
        start, end = self.offsets[i], self.offsets[i + 1]
        h, w = (int(v) for v in self.shapes[i])
        mask = self.mask[start:end].reshape(h, w)
        rows, cols = mask_box(mask, margin).slices() if margin is not None else (slice(None), slice(None))
        return ItemCrop(torch.from_numpy(self.image[:, start:end].reshape(-1, h, w)[:, rows, cols]
                                         .astype(np.float32)),
                        torch.from_numpy(mask[rows, cols].copy()),
                        torch.from_numpy(self.anomaly[start:end].reshape(h, w)[rows, cols].copy()),
                        torch.from_numpy(self.parts[start:end].reshape(h, w)[rows, cols].astype(np.int64)))

    def first_scans(self, n: int) -> ItemSet:
        """The items (and missed items) of the set's first ``n`` scans: a smaller evaluation set."""
        items = int(np.searchsorted(self.scan_index, n))  # items are kept in scan order
        missed = int(np.searchsorted(self.missed_scan, n))
        end = int(self.offsets[items])
        return ItemSet(self.scan_ids[:n], self.scan_anomalous[:n], self.scan_index[:items],
                       self.boxes[:items], self.shapes[:items], self.offsets[:items + 1],
                       self.image[:, :end], self.mask[:end], self.anomaly[:end], self.parts[:end],
                       self.anomalous[:items], self.kind[:items], self.item_class[:items],
                       self.missed_scan[:missed], self.missed_anomalous[:missed], self.missed_kind[:missed],
                       self.item_model[:items], self.missed_class[:missed], self.missed_model[:missed],
                       self.named_class[:items])

    def to_bytes(self) -> bytes:
        """The set as an .npz (np.load with allow_pickle=False reads it back)."""
        buffer = io.BytesIO()
        np.savez(buffer, **{f.name: getattr(self, f.name) for f in fields(self)})
        return buffer.getvalue()

    @classmethod
    def from_npz(cls, npz) -> ItemSet:
        return cls(**{f.name: npz[f.name] for f in fields(cls)})


# training reads its crops in float16 (half the memory; augmentation adds more noise than the
# rounding); a set that is scored keeps the scan's float32, so its items score as predict scores them
TRAIN_DTYPE, SCORED_DTYPE = np.float16, np.float32


class ItemSetBuilder:
    """Accumulates the items of scans one scan at a time; ``build`` makes the ItemSet, its crops
    stored as ``dtype``."""

    def __init__(self, dtype: type = SCORED_DTYPE):
        self.dtype = dtype
        self.scan_ids: list[str] = []
        self.scan_anomalous: list[bool] = []
        self.items: list[tuple] = []
        self.missed: list[tuple] = []

    def add_scan(self, scan: Scan, image: np.ndarray, found: list[np.ndarray] | None = None,
                 names: np.ndarray | None = None) -> None:
        """The items of ``scan`` (its input ``image``, C×H×W): its true items, or with ``found``
        the given masks (H×W bool), each labelled by the true item it matches at IoU ≥ 0.5 and
        named by ``names`` (the class the item stage named each; none: "")."""
        index = len(self.scan_ids)
        n = scan.n_objects
        flags = np.asarray(scan.object_anomalous, bool) if n else np.zeros(0, bool)
        kinds = (np.asarray(scan.object_anomaly_kind, np.str_) if scan.object_anomaly_kind is not None
                 else np.full(n, "", np.str_))
        classes = np.asarray(scan.object_class, np.str_) if n else np.zeros(0, np.str_)
        models = (np.asarray(scan.object_model, np.str_) if scan.object_model is not None
                  else np.full(n, "", np.str_))
        self.scan_ids.append(scan.scan_id)
        self.scan_anomalous.append(bool(flags.any()))
        if found is None:
            masks = [scan.objects == i for i in range(1, n + 1)]
            truth = np.arange(n)
            named = classes
        else:
            masks = list(found)
            if names is not None and len(names) != len(masks):
                raise ValueError(f"scan {scan.scan_id}: {len(names)} class names, {len(masks)} found items")
            named = np.asarray(names, np.str_) if names is not None else np.full(len(masks), "", np.str_)
            match = match_items(masks, scan.objects, n)
            truth = match.truth_of_found
            for t in np.flatnonzero(~match.found_truth):
                self.missed.append((index, bool(flags[t]), str(kinds[t]), str(classes[t]), str(models[t])))
        for mask, t, name in zip(masks, truth, named, strict=True):
            if not mask.any():
                continue
            box = mask_box(mask, STORED_MARGIN)
            known = t >= 0
            # copies, not views: a view would keep the whole scan's float32 input alive
            self.items.append((index, box, image[:, box.y0:box.y1, box.x0:box.x1].astype(self.dtype),
                               mask[box.slices()].copy(), scan.anomaly[box.slices()] > 0,
                               scan.parts[box.slices()].astype(np.int16),
                               bool(flags[t]) if known else False, str(kinds[t]) if known else "",
                               str(classes[t]) if known else "", str(models[t]) if known else "",
                               str(name)))

    def build(self, channels: int) -> ItemSet:
        boxes = [it[1] for it in self.items]
        sizes = np.array([b.height * b.width for b in boxes], np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        flat = {key: [it[k].reshape(*it[k].shape[:-2], -1) for it in self.items]
                for key, k in (("image", 2), ("mask", 3), ("anomaly", 4), ("parts", 5))}
        image = (np.concatenate(flat["image"], 1).astype(self.dtype) if self.items
                 else np.zeros((channels, 0), self.dtype))

        def cat(key: str, dtype) -> np.ndarray:
            return np.concatenate(flat[key]).astype(dtype) if self.items else np.zeros(0, dtype)

        def column(k: int, dtype) -> np.ndarray:
            return np.asarray([it[k] for it in self.items], dtype=dtype)

        def missed(k: int, dtype) -> np.ndarray:
            return np.asarray([m[k] for m in self.missed], dtype=dtype)

        return ItemSet(np.asarray(self.scan_ids, np.str_), np.asarray(self.scan_anomalous, bool),
                       column(0, np.int64).reshape(-1), _boxes(boxes),
                       np.array([[b.height, b.width] for b in boxes], np.int64).reshape(-1, 2), offsets,
                       image, cat("mask", bool), cat("anomaly", bool), cat("parts", np.int16),
                       column(6, bool).reshape(-1), column(7, np.str_).reshape(-1),
                       column(8, np.str_).reshape(-1), missed(0, np.int64).reshape(-1),
                       missed(1, bool).reshape(-1), missed(2, np.str_).reshape(-1),
                       column(9, np.str_).reshape(-1), missed(3, np.str_).reshape(-1),
                       missed(4, np.str_).reshape(-1), column(10, np.str_).reshape(-1))


def _boxes(boxes: list[Box]) -> np.ndarray:
    return np.array([[b.x0, b.y0, b.x1, b.y1] for b in boxes], np.int64).reshape(-1, 4)


def read_items(archive, ids: list[str], modality: str,
               found: dict[str, list[np.ndarray]] | None = None, dtype: type = SCORED_DTYPE,
               names: dict[str, np.ndarray] | None = None) -> ItemSet:
    """The items of scans ``ids`` of ``archive`` at native pitch in ``modality``: their true items,
    or with ``found`` (scan id -> masks) the found ones, labelled by matching and named by
    ``names`` (scan id -> the class named each); crops as ``dtype``."""
    from scans.modalities import build_input, modality_channels

    builder = ItemSetBuilder(dtype)
    for scan_id in ids:
        scan = archive.read(scan_id)
        if not scan.has_labels:
            raise ValueError(f"{archive.file_uri(scan_id)}: training needs labels "
                             "(objects, parts, anomaly), this scan has none")
        builder.add_scan(scan, build_input(scan, modality), None if found is None else found[scan_id],
                         None if names is None else names.get(scan_id))
    return builder.build(modality_channels(modality))
