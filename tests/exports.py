"""A dual-energy lab's exports made from synthetic scans: a step-wedge calibration file, and a folder of
pseudo-colour and 16-bit raw images with a COCO JSON."""

from __future__ import annotations

import json
import os

import numpy as np
from PIL import Image

from scans.physics.forward import transmissions
from scans.physics.materials import get_material
from scans.record import Scan
from scans.zeff_calibration import CALIBRATION_FORMAT

WEDGES = ("polyethylene", "aluminium", "steel", "copper")


def wedge_calibration(path: str, steps: int = 24) -> dict:
    """Write a calibration file as a scanner's step-wedge measurement would give it (the simulated
    scanner's transmissions through each wedge's steps, air and impenetrable steps left out)."""
    wedges = []
    for name in WEDGES:
        areal = np.geomspace(0.05, 60.0, steps)[None].astype(np.float32)
        low, high = transmissions(areal, (name,))
        keep = (high > 0.005) & (high < 0.98) & (low > 1e-6)
        wedges.append({"material": name, "z": get_material(name).z_eff,
                       "high": high[keep].astype(float).tolist(), "low": low[keep].astype(float).tolist()})
    content = {"format": CALIBRATION_FORMAT, "version": 1, "scanner": "simulated", "wedges": wedges}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(content, f)
    return content


def rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of an H×W bool mask (column-major runs, the first one background)."""
    flat = mask.reshape(-1, order="F").astype(bool)
    bounds = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1, [flat.size]])
    counts = np.diff(bounds).tolist()
    return {"size": list(mask.shape), "counts": [0, *counts] if flat[0] else counts}


def raw_values(transmission: np.ndarray, air: float, dark: float) -> np.ndarray:
    """uint16 detector values of a transmission image at the given air and dark levels."""
    return np.round(dark + np.clip(transmission, 0, 1) * (air - dark)).astype(np.uint16)


# each energy's own detector levels (air, dark): a reader that swaps the two scales reads wrong values
RAW_LEVELS = {"high": (60000.0, 500.0), "low": (41000.0, 1500.0)}


def write_exports(scans: list[Scan], folder: str, levels: dict[str, tuple[float, float]] = RAW_LEVELS,
                  with_pseudo: bool = True) -> str:
    """Write each scan as X.png (pseudo-colour, unless ``with_pseudo`` is False), X_high.tif and
    X_low.png (16-bit, each at its ``levels`` (air, dark), stated in raw_scale.json) and one
    annotations.json: items by class, their sub-components as category "component", anomalies as
    category "threat"."""
    os.makedirs(folder, exist_ok=True)
    images, annotations, names = [], [], {"threat": 1, "component": 2}
    for image_id, scan in enumerate(scans, start=1):
        stem = scan.scan_id
        if with_pseudo:
            Image.fromarray(scan.pseudo).save(os.path.join(folder, f"{stem}.png"))
        Image.fromarray(raw_values(scan.high, *levels["high"])).save(os.path.join(folder, f"{stem}_high.tif"))
        Image.fromarray(raw_values(scan.low, *levels["low"])).save(os.path.join(folder, f"{stem}_low.png"))
        height, width = scan.shape
        images.append({"id": image_id, "file_name": f"{stem}.png" if with_pseudo else f"{stem}_high.tif",
                       "height": height, "width": width})
        anomaly = scan.anomaly.astype(bool)
        for item in range(1, scan.n_objects + 1):
            mask = scan.objects == item
            if not mask.any():
                continue
            category = names.setdefault(str(scan.object_class[item - 1]), len(names) + 1)
            annotations.append({"image_id": image_id, "category_id": category, "segmentation": rle(mask)})
            for part in np.unique(scan.parts[mask & ~anomaly]):
                part_mask = (scan.parts == part) & mask & ~anomaly
                if part_mask.sum() >= 4 and part_mask.sum() < mask.sum():
                    annotations.append({"image_id": image_id, "category_id": names["component"],
                                        "segmentation": rle(part_mask)})
        for item in np.unique(scan.objects[anomaly]):  # each anomaly inside its item (0: on its own)
            annotations.append({"image_id": image_id, "category_id": names["threat"],
                                "segmentation": rle(anomaly & (scan.objects == item))})
    categories = [{"id": i, "name": n} for n, i in names.items()]
    for index, annotation in enumerate(annotations, start=1):
        annotation["id"] = index
    with open(os.path.join(folder, "annotations.json"), "w", encoding="utf-8") as f:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, f)
    with open(os.path.join(folder, "raw_scale.json"), "w", encoding="utf-8") as f:
        json.dump({energy: {"air": air, "dark": dark} for energy, (air, dark) in levels.items()}, f)
    return folder
