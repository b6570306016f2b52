"""Folders of pseudo-colour images with an optional COCO JSON of instance masks."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import numpy as np
from skimage.draw import polygon as fill_polygon

from scans.errors import ScanFormatError
from scans.importers.base import (
    IMPORTERS,
    ImportReport,
    read_image,
    to_pseudo,
    write_archive,
)
from scans.record import Scan

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def rle_counts_from_string(encoded: str) -> list[int]:
    """Run lengths of a compressed COCO RLE string (5-bit groups, delta-coded after the 2nd)."""
    counts: list[int] = []
    pos = 0
    while pos < len(encoded):
        value, shift, more = 0, 0, True
        while more:
            chunk = ord(encoded[pos]) - 48
            value |= (chunk & 0x1F) << shift
            more = bool(chunk & 0x20)
            pos += 1
            shift += 5
            if not more and chunk & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def decode_segmentation(segmentation, height: int, width: int, where: str) -> np.ndarray:
    """A COCO segmentation (polygons, RLE or compressed RLE) as an H×W bool mask."""
    if isinstance(segmentation, list):
        mask = np.zeros((height, width), dtype=bool)
        for poly in segmentation:
            xy = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
            if len(xy) < 3:
                raise ScanFormatError(where, "a polygon needs at least 3 points")
            rows, cols = fill_polygon(xy[:, 1], xy[:, 0], shape=(height, width))
            mask[rows, cols] = True
        return mask
    if isinstance(segmentation, dict) and "counts" in segmentation:
        counts = segmentation["counts"]
        if isinstance(counts, str):
            counts = rle_counts_from_string(counts)
        size = segmentation.get("size", [height, width])
        if list(size) != [height, width] or sum(counts) != height * width:
            raise ScanFormatError(where, f"RLE of size {size} (sum {sum(counts)}) does not fit "
                                         f"the {height}×{width} image")
        values = np.zeros(len(counts), dtype=bool)
        values[1::2] = True
        return np.repeat(values, counts).reshape((height, width), order="F")
    raise ScanFormatError(where, "segmentation must be a list of polygons or an RLE dict")


def read_annotations(path: str) -> tuple[dict[str, list[dict]], dict[int, str]]:
    try:
        with open(path, encoding="utf-8") as f:
            coco = json.load(f)
        categories = {int(c["id"]): str(c["name"]) for c in coco.get("categories", [])}
        files = {int(i["id"]): os.path.basename(i["file_name"]) for i in coco["images"]}
        by_file: dict[str, list[dict]] = {}
        for ann in coco.get("annotations", []):
            by_file.setdefault(files[int(ann["image_id"])], []).append(ann)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ScanFormatError(path, f"not a usable COCO JSON ({type(err).__name__}: {err})") from None
    return by_file, categories


def coco_labels(anns: list[dict], categories: dict[int, str], anomaly_categories: set[str],
                height: int, width: int, where: str,
                part_categories: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
    """Items, sub-components and anomalies: an anomaly instance belongs to the item that holds most
    of it; instances of ``part_categories`` are sub-components of their items (without any, each
    item is one part)."""
    masks, names, is_anomaly, is_part = [], [], [], []
    for ann in anns:
        name = categories.get(int(ann.get("category_id", -1)), "unknown")
        masks.append(decode_segmentation(ann.get("segmentation", []), height, width, where))
        names.append(name)
        is_anomaly.append(name in anomaly_categories
                          or bool(ann.get("attributes", {}).get("anomalous", False)))
        is_part.append(name in part_categories and not is_anomaly[-1])
    items = [i for i in range(len(anns)) if not is_anomaly[i] and not is_part[i]]
    items.sort(key=lambda i: -int(masks[i].sum()))  # large items first, small ones on top
    objects = np.zeros((height, width), dtype=np.int32)
    for object_id, i in enumerate(items, start=1):
        objects[masks[i]] = object_id
    classes, anomalous = [names[i] for i in items], [False] * len(items)
    kinds: list[set[str]] = [set() for _ in items]  # the anomaly categories each item holds
    parts = objects.copy()
    anomaly = np.zeros((height, width), dtype=np.uint8)
    next_part = len(items)
    for i in (i for i in range(len(anns)) if is_part[i]):  # a sub-component within its item
        next_part += 1
        parts[masks[i] & (objects > 0)] = next_part
    for i in (i for i in range(len(anns)) if is_anomaly[i]):
        holders = np.bincount(objects[masks[i]], minlength=len(items) + 1)[1:]
        if holders.size and holders.max() > 0:
            anomalous[int(holders.argmax())] = True
            kinds[int(holders.argmax())].add(names[i])
        else:  # a threat on its own is its own anomalous item
            classes.append(names[i])
            anomalous.append(True)
            kinds.append({names[i]})
            objects[masks[i]] = len(classes)
        next_part += 1
        parts[masks[i]] = next_part
        anomaly[masks[i]] = 1
    return {
        "objects": objects,
        "object_class": np.array(classes, dtype=np.str_).reshape(-1),
        "object_anomalous": np.array(anomalous, dtype=bool).reshape(-1),
        # several anomalies in one item: their categories joined by "+", e.g. "gun+knife"
        "object_anomaly_kind": np.array(["+".join(sorted(k)) for k in kinds], dtype=np.str_).reshape(-1),
        "parts": parts,
        "anomaly": anomaly,
    }


def add_coco_labels(scan: Scan, anns: list[dict], categories: dict[int, str], anomaly_categories: set[str],
                    where: str, part_categories: frozenset[str] = frozenset()) -> None:
    """Set ``scan``'s label arrays from its COCO annotations (see coco_labels)."""
    height, width = scan.shape
    for key, value in coco_labels(anns, categories, anomaly_categories, height, width, where,
                                  part_categories).items():
        setattr(scan, key, value)


def _scans(src: str, annotations: str | None, anomaly_categories: set[str],
           split: str) -> Iterator[Scan | ScanFormatError]:
    images = sorted(n for n in os.listdir(src) if n.lower().endswith(IMAGE_EXTENSIONS))
    if not images:
        raise ScanFormatError(src, "no images (png, jpg, tif, bmp) in the folder")
    by_file, categories = read_annotations(annotations) if annotations else ({}, {})
    for name in images:
        path = os.path.join(src, name)
        try:
            pseudo = to_pseudo(read_image(path), path)
            scan = Scan(f"coco_{os.path.splitext(name)[0]}", pseudo=pseudo, split=split,
                        source=f"coco:{path}")
            if annotations is not None:
                add_coco_labels(scan, by_file.get(name, []), categories, anomaly_categories,
                                f"{annotations} [{name}]")
            yield scan
        except ScanFormatError as err:
            yield err


@IMPORTERS.register("coco")
def import_coco(src: str, out: str, annotations: str | None = None,
                anomaly_categories: tuple[str, ...] = (), split: str = "") -> ImportReport:
    """Convert a folder of pseudo-colour images (and a COCO JSON of instance masks) to an archive.

    Instances of ``anomaly_categories`` (or with ``attributes.anomalous`` true) are anomalies:
    they mark the item that holds most of their pixels as anomalous.
    """
    if annotations is None:
        found = sorted(n for n in os.listdir(src) if n.lower().endswith(".json"))
        annotations = os.path.join(src, found[0]) if found else None
    info = {"source": f"coco:{os.path.abspath(src)}", "annotations": annotations,
            "anomaly_categories": list(anomaly_categories), "parts_labelled": False}
    return write_archive(out, _scans(src, annotations, set(anomaly_categories), split), info)
