"""A lab's dual-energy exports: per scan its pseudo-colour image and/or raw high/low (and optionally
Z_eff) images named as scans.exports says, with a COCO JSON of items, sub-components and anomalies."""

from __future__ import annotations

import os
from collections.abc import Iterator

from scans.errors import ScanFormatError
from scans.exports import (
    EXPORT_EXTENSIONS,
    RAW_SCALE_FILE,
    ExportSettings,
    RawScale,
    assemble_scan,
    group_exports,
    read_raw_scale,
    split_role,
)
from scans.images import open_image
from scans.importers.base import IMPORTERS, ImportReport, write_archive
from scans.importers.coco import add_coco_labels, read_annotations
from scans.limits import ReadLimits
from scans.record import Scan
from scans.zeff_calibration import CALIBRATION_FILE


def _by_scan(by_file: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """COCO annotations keyed by scan stem: an image's file_name may be any of the scan's exports."""
    out: dict[str, list[dict]] = {}
    for name, anns in by_file.items():
        out.setdefault(split_role(os.path.splitext(name)[0])[0], []).extend(anns)
    return out


def _scans(src: str, groups: dict[str, dict[str, str]], annotations: str | None,
           anomaly_categories: set[str], part_categories: frozenset[str], raw_scale: RawScale,
           split: str) -> Iterator[Scan | ScanFormatError]:
    by_scan, categories = ({}, {})
    if annotations is not None:
        by_file, categories = read_annotations(annotations)
        by_scan = _by_scan(by_file)
    settings, limits = ExportSettings(raw_scale), ReadLimits.from_env()
    for stem, files in groups.items():
        try:
            images = {}
            for role, path in files.items():
                images[role] = (open_image(path, path, limits), path)
            source = files.get("pseudo") or files.get("high") or next(iter(files.values()))
            scan = assemble_scan(stem, images, settings, f"dual-energy:{source}", split=split)
            if annotations is not None:
                add_coco_labels(scan, by_scan.get(stem, []), categories, anomaly_categories,
                                f"{annotations} [{stem}]", part_categories)
            yield scan
        except ScanFormatError as err:
            yield err


@IMPORTERS.register("dual-energy")
def import_dual_energy(src: str, out: str, annotations: str | None = None,
                       anomaly_categories: tuple[str, ...] = (), part_categories: tuple[str, ...] = (),
                       raw_scale: RawScale | None = None, zeff_calibration: str | None = None,
                       split: str = "") -> ImportReport:
    """Convert a folder of a dual-energy scanner's exports (X.png, X_high/X_low 8- or 16-bit PNG or
    TIFF, X_zeff) and its COCO JSON into an archive.

    ``raw_scale`` maps raw values to transmission (default: the folder's raw_scale.json, else each
    bit depth's full scale); Z_eff, where a scan brings none, is derived with ``zeff_calibration``
    (default: the folder's zeff_calibration.json; without one no Z is stored). COCO instances of
    ``anomaly_categories`` mark their holding item anomalous, those of ``part_categories`` are its
    sub-components; without part categories each item is one part (archive.json says so, and learned
    SSN features refuse the archive)."""
    if not os.path.isdir(src):
        raise ScanFormatError(src, "not a folder")
    names = sorted(os.listdir(src))
    exported = [(os.path.splitext(n)[0], os.path.join(src, n)) for n in names
                if n.lower().endswith(EXPORT_EXTENSIONS)]
    if not exported:
        raise ScanFormatError(src, f"no exported images ({', '.join(EXPORT_EXTENSIONS)}) in the folder")
    groups = group_exports(exported)
    if annotations is None:
        sidecars = (RAW_SCALE_FILE, CALIBRATION_FILE)
        found = [n for n in names if n.lower().endswith(".json") and n not in sidecars]
        annotations = os.path.join(src, found[0]) if found else None
    if raw_scale is None and os.path.exists(os.path.join(src, RAW_SCALE_FILE)):
        path = os.path.join(src, RAW_SCALE_FILE)
        with open(path, "rb") as f:
            raw_scale = read_raw_scale(f.read(), path)
    if zeff_calibration is None and os.path.exists(os.path.join(src, CALIBRATION_FILE)):
        zeff_calibration = os.path.join(src, CALIBRATION_FILE)
    raw_scale = raw_scale or RawScale()
    info = {"source": f"dual-energy:{os.path.abspath(src)}", "annotations": annotations,
            "anomaly_categories": list(anomaly_categories), "part_categories": list(part_categories),
            "parts_labelled": bool(part_categories) and annotations is not None,
            "raw_scale": raw_scale.describe()}
    scans = _scans(src, groups, annotations, set(anomaly_categories), frozenset(part_categories), raw_scale,
                   split)
    return write_archive(out, scans, info, zeff_calibration)
