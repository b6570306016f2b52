"""Crops of a report's top flagged items, cut from their scans' pictures with each item's box drawn."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image, ImageDraw

from jobs.scoring.inputs import InputFile, decode_scan, read_payloads
from jobs.scoring.sink import TopItem
from models.subcomponent.figure import ANOMALOUS_RGB
from scans.exports import ExportSettings
from scans.limits import ReadLimits
from scans.modalities import scan_picture
from scans.preview import png_bytes
from scans.storage import Location

CROP_DIR = "item_crops"
MARGIN = 0.25  # of the box's longer side, kept around the box
MIN_CROP_PX = 192  # small crops are enlarged (nearest neighbour, integer factor) to at least this


def item_crop(pseudo: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """uint8 (h, w, 3): the part of the (H, W, 3) pseudo-colour image around ``box`` (x0, y0, x1, y1,
    exclusive ends, in its pixels) with a margin, outlined red just outside the box, enlarged when
    small."""
    height, width = pseudo.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise ValueError(f"box {box} does not lie in a {height}×{width} scan")
    pad = max(2, round(MARGIN * max(x1 - x0, y1 - y0)))
    left, top = max(0, x0 - pad), max(0, y0 - pad)
    right, bottom = min(width, x1 + pad), min(height, y1 + pad)
    factor = max(1, -(-MIN_CROP_PX // max(right - left, bottom - top)))
    crop = Image.fromarray(np.ascontiguousarray(pseudo[top:bottom, left:right]))
    crop = crop.resize(((right - left) * factor, (bottom - top) * factor), Image.NEAREST)
    line = max(2, factor)  # drawn just outside the box (inside it at the scan's edge): the item shows
    ImageDraw.Draw(crop).rectangle((max(0, (x0 - left) * factor - line), max(0, (y0 - top) * factor - line),
                                    min(crop.width, (x1 - left) * factor + line) - 1,
                                    min(crop.height, (y1 - top) * factor + line) - 1),
                                   outline=ANOMALOUS_RGB, width=line)
    return np.asarray(crop)


def crop_name(rank: int, scan_id: str, item_id: int) -> str:
    """File name of the rank-th item crop (1 = first), safe for any scan id."""
    return f"{rank:04d}_{re.sub(r'[^A-Za-z0-9._-]+', '_', scan_id)}_item{item_id}.png"


def write_item_crops(root: Location, inputs: dict[tuple[str, str], InputFile], top_items: list[TopItem],
                     out: Location, limits: ReadLimits | None = None,
                     settings: ExportSettings | None = None) -> list[dict]:
    """PNG crops of ``top_items`` (best first) under ``out/item_crops/``, each scan read once; returns
    one entry per crop (file, scan_id, item_id, score). A scan that cannot be read again (changed
    since it was scored) gives no crop; the page shows the item without one."""
    if not top_items:
        return []
    out.makedirs(CROP_DIR)
    pseudo: dict[tuple[str, str], np.ndarray | None] = {}
    written = []
    for rank, (score, source, scan_id, item_id, *box) in enumerate(top_items, start=1):
        key = (scan_id, source)
        if key not in pseudo:
            try:
                input_file = inputs[key]
                scan = decode_scan(input_file, read_payloads(root, input_file, limits), limits, settings)
                pseudo[key] = scan_picture(scan)
            except (KeyError, OSError, ValueError):  # ScanFormatError, ModalityError are ValueErrors
                pseudo[key] = None
        if pseudo[key] is None:
            continue
        try:
            crop = item_crop(pseudo[key], tuple(box))
        except ValueError:
            continue
        name = crop_name(rank, scan_id, item_id)
        out.write_bytes(f"{CROP_DIR}/{name}", png_bytes(crop))
        written.append({"file": f"{CROP_DIR}/{name}", "scan_id": scan_id, "item_id": int(item_id),
                        "score": float(score)})
    return written
