"""Overlays for a report: the top-scoring scans with anomalous superpixels outlined red, benign green."""

from __future__ import annotations

import re

import numpy as np

from jobs.scoring.inputs import InputFile, decode_scan, read_payloads
from jobs.scoring.model import ScoringModel
from jobs.scoring.stages import labels_at
from models.inputs import resize_square
from models.subcomponent.figure import render_contours
from scans.modalities import build_input
from scans.preview import png_bytes
from scans.storage import Location


def overlay_image(model: ScoringModel, root: Location, item: InputFile) -> np.ndarray:
    """uint8 (H, W, 3): the scan's modality image at full size (its first three channels, or grey)
    with every segment's contour, red when it is scored and reaches the threshold, else green."""
    scan = decode_scan(item, read_payloads(root, item))
    image = build_input(scan, model.input_modality)
    native = model.image_size is None
    pred = model.predict([image] if native else resize_square(image, model.image_size, labels=False)[None])[0]
    height, width = image.shape[1:]
    background = image[:3] if image.shape[0] >= 3 else image[:1]
    flagged = pred.flagged if pred.flagged is not None else pred.scores >= model.threshold
    return render_contours(background, labels_at(pred.labels, height, width), pred.scored & flagged)


def overlay_name(rank: int, scan_id: str) -> str:
    """File name of the rank-th overlay (1 = highest score), safe for any scan id."""
    return f"{rank:04d}_{re.sub(r'[^A-Za-z0-9._-]+', '_', scan_id)}.png"


def write_overlays(model: ScoringModel, root: Location, items: list[InputFile], out: Location) -> list[str]:
    """PNG overlays of ``items`` (best first) under ``out/overlays/``; returns the file names."""
    out.makedirs("overlays")
    names = []
    for rank, item in enumerate(items, start=1):
        name = overlay_name(rank, item.scan_id)
        out.write_bytes(f"overlays/{name}", png_bytes(overlay_image(model, root, item)))
        names.append(name)
    return names
