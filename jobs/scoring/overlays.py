"""Overlays for a report, as the paper's Fig. 4/5: the top-scoring scans and, with labels, the worst
misses, each on the pseudo-colour image (and on the model's own input when that differs)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from jobs.scoring.batches import labels_at
from jobs.scoring.inputs import InputFile, decode_scan, read_payloads
from models.inputs import resize_square
from models.predictions import ScanPrediction, Verdict
from models.subcomponent.figure import ANOMALOUS_RGB, BENIGN_RGB, ITEM_RGB, TRUTH_RGB, render_figure
from models.trained import TrainedModel
from scans.exports import ExportSettings
from scans.limits import ReadLimits
from scans.modalities import ATTENUATION_SCALE, ZEFF_CALIBRATION, build_input, parse_modality, scan_picture
from scans.preview import png_bytes
from scans.record import Scan
from scans.storage import Location

MIN_PANEL_PX = 512  # small scans are enlarged (nearest neighbour, integer factor) to at least this
STRIP_PX = 44  # the title strip above the panels
# overlay groups: the N highest-scoring scans, and with labels the worst misses of each kind
GROUPS = {"top": "", "highest_benign": "benign_high_", "lowest_anomalous": "anomalous_low_"}


@dataclass
class OverlayFigure:
    """What one overlay shows, in the scan's own pixels."""

    scan: Scan
    pred: ScanPrediction
    labels: np.ndarray  # (H, W) segment ids
    item_boxes: np.ndarray | None
    verdict: Verdict  # flagged segments, the scan's score and verdict, as the report says


def predict_for_overlay(model: TrainedModel, scan: Scan) -> OverlayFigure:
    """The model's segments and verdict for one scan, mapped to the scan's pixels."""
    image = build_input(scan, model.input_modality)
    native = model.image_size is None
    pred = model.predict([image] if native else resize_square(image, model.image_size, labels=False)[None])[0]
    height, width = image.shape[1:]
    boxes = pred.item_boxes
    if boxes is None and model.pipeline == "maskrcnn":  # its segments are the items it found
        size_y, size_x = pred.labels.shape
        boxes = pred.boxes[pred.scored] * np.array([width / size_x, height / size_y] * 2)
    return OverlayFigure(scan, pred, labels_at(pred.labels, height, width), boxes,
                         pred.verdict(model.threshold))


def _model_view(model: TrainedModel, scan: Scan) -> tuple[np.ndarray, str] | None:
    """The model's own first input channel as a grey image (attenuation shown as transmission, air
    white) and its caption; None when the model sees pseudo-colour (the first panel already)."""
    first = parse_modality(model.modality)[0]
    if first == "pseudo":
        return None
    channel = build_input(scan, first)[0]
    if first.endswith("_log"):
        channel = np.exp(-ATTENUATION_SCALE * channel)
    return channel, f"{model.modality} (the model's input, first channel)"


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def compose(panels: list[tuple[np.ndarray, str]], title: str, verdict: bool, truth: bool) -> np.ndarray:
    """Panels side by side under a title strip (scan, score, threshold, verdict, and a legend that
    names the true anomaly's colour when ``truth`` is drawn)."""
    height, width = panels[0][0].shape[:2]
    factor = max(1, -(-MIN_PANEL_PX // max(height, width)))
    pw, ph, gap = width * factor, height * factor, 8
    canvas = Image.new("RGB", (len(panels) * pw + (len(panels) - 1) * gap, ph + STRIP_PX + 22), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((6, 4), title, fill=ANOMALOUS_RGB if verdict else (0, 110, 0), font=_font(16))
    x = 6
    legend = [(ANOMALOUS_RGB, "anomalous superpixel"), (BENIGN_RGB, "benign superpixel"),
              (ITEM_RGB, "found item")] + ([(TRUTH_RGB, "true anomaly")] if truth else [])
    for colour, text in legend:
        draw.rectangle((x, 26, x + 12, 38), fill=colour)
        draw.text((x + 16, 25), text, fill="black", font=_font(12))
        x += 20 + int(draw.textlength(text, font=_font(12))) + 12
    for index, (image, caption) in enumerate(panels):
        left = index * (pw + gap)
        enlarged = Image.fromarray(image).resize((pw, ph), Image.NEAREST)
        canvas.paste(enlarged, (left, STRIP_PX))
        draw.text((left + 4, STRIP_PX + ph + 3), caption, fill="black", font=_font(13))
    return np.asarray(canvas)


def overlay_image(model: TrainedModel, root: Location, input_file: InputFile,
                  limits: ReadLimits | None = None, settings: ExportSettings | None = None) -> np.ndarray:
    """uint8 (H', W', 3): one scan's overlay. Anomalous superpixels are filled red and outlined,
    benign ones outlined green, found items boxed blue, the true anomaly outlined amber when the scan
    has labels; a second panel shows the model's own input when it is not pseudo-colour."""
    scan = decode_scan(input_file, read_payloads(root, input_file, limits), limits, settings)
    figure = predict_for_overlay(model, scan)
    truth, line = scan.anomaly, max(1, max(scan.shape) // 256)

    def draw(background: np.ndarray) -> np.ndarray:
        return render_figure(background, figure.labels, figure.pred.scored, figure.verdict.flagged,
                             figure.item_boxes, truth, line)

    panels = [(draw(scan_picture(scan)), "pseudo-colour" if scan.pseudo is not None or scan.zeff is not None
               or ZEFF_CALIBRATION in scan.meta else "high energy (no Z_eff: no pseudo-colour)")]
    view = _model_view(model, scan)
    if view is not None:
        panels.append((draw(view[0]), view[1]))
    verdict = figure.verdict.is_anomalous
    title = (f"{scan.scan_id}   score {figure.verdict.score:.3f}   threshold {model.threshold:.3f}   "
             f"{'ANOMALY' if verdict else 'benign'}")
    if scan.is_anomalous is not None:
        title += f"   (truth: {'anomalous' if scan.is_anomalous else 'benign'})"
    return compose(panels, title, verdict, truth is not None)


def overlay_name(rank: int, scan_id: str, group: str = "top") -> str:
    """File name of the rank-th overlay of ``group`` (1 = first), safe for any scan id."""
    return f"{GROUPS[group]}{rank:04d}_{re.sub(r'[^A-Za-z0-9._-]+', '_', scan_id)}.png"


def write_overlays(model: TrainedModel, root: Location, inputs: list[InputFile], out: Location,
                   group: str = "top", limits: ReadLimits | None = None,
                   settings: ExportSettings | None = None) -> list[str]:
    """PNG overlays of ``inputs`` (in order) under ``out/overlays/``; returns the file names."""
    out.makedirs("overlays")
    names = []
    for rank, input_file in enumerate(inputs, start=1):
        name = overlay_name(rank, input_file.scan_id, group)
        image = overlay_image(model, root, input_file, limits, settings)
        out.write_bytes(f"overlays/{name}", png_bytes(image))
        names.append(name)
    return names
