"""The paper's figures: superpixel contours over a modality, red where anomalous, green where benign."""

from __future__ import annotations

import numpy as np

ANOMALOUS_RGB = (255, 0, 0)
BENIGN_RGB = (0, 255, 0)


def boundaries(labels: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels with a 4-neighbour of another label."""
    edge = np.zeros(labels.shape, dtype=bool)
    horizontal = labels[:, 1:] != labels[:, :-1]
    vertical = labels[1:, :] != labels[:-1, :]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    return edge


def _as_rgb(background: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) from a float [0, 1] or uint8 image, grey when it has one channel."""
    image = np.asarray(background)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = np.moveaxis(image, 0, -1)  # C×H×W as modalities build it
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, -1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"background must be H×W, H×W×3 or C×H×W with C in (1, 3), got {image.shape}")
    if image.dtype != np.uint8:
        image = (np.clip(image.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    return image.copy()


def render_contours(background: np.ndarray, labels: np.ndarray, anomalous: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3): ``background`` with each superpixel's contour, red when
    ``anomalous[label]`` else green."""
    labels = np.asarray(labels)
    image = _as_rgb(background)
    if image.shape[:2] != labels.shape:
        raise ValueError(f"background {image.shape[:2]} and labels {labels.shape} differ in size")
    anomalous = np.asarray(anomalous, dtype=bool)
    if anomalous.size <= labels.max():
        raise ValueError(f"anomalous has {anomalous.size} entries for labels up to {labels.max()}")
    edge = boundaries(labels)
    colours = np.where(anomalous[labels[edge]][:, None], ANOMALOUS_RGB, BENIGN_RGB).astype(np.uint8)
    image[edge] = colours
    return image


TRUTH_RGB = (255, 200, 0)  # the ground-truth anomaly outline
ITEM_RGB = (30, 110, 255)  # found items' boxes
FILL_ALPHA = 0.4  # anomalous superpixels are filled this much red


def _thick(edge: np.ndarray, width: int) -> np.ndarray:
    """``edge`` grown by ``width − 1`` pixels right and down (lines stay visible when upscaled)."""
    out = edge.copy()
    for shift in range(1, width):
        out[shift:, :] |= edge[:-shift, :]
        out[:, shift:] |= edge[:, :-shift]
    return out


def render_figure(background: np.ndarray, labels: np.ndarray, scored: np.ndarray, anomalous: np.ndarray,
                  item_boxes: np.ndarray | None = None, truth: np.ndarray | None = None,
                  line: int = 1) -> np.ndarray:
    """uint8 (H, W, 3), the paper's Fig. 4/5: ``background`` with the scored superpixels' contours,
    anomalous ones filled translucent red and outlined red, benign ones outlined green; each found
    item's box (x0, y0, x1, y1) in blue; and, when given, the outline of the ``truth`` anomaly mask
    in amber. Lines are ``line`` pixels wide."""
    labels = np.asarray(labels)
    image = _as_rgb(background)
    if image.shape[:2] != labels.shape:
        raise ValueError(f"background {image.shape[:2]} and labels {labels.shape} differ in size")
    scored, anomalous = np.asarray(scored, bool), np.asarray(anomalous, bool)
    if min(scored.size, anomalous.size) <= labels.max():
        raise ValueError(f"{min(scored.size, anomalous.size)} flags for labels up to {labels.max()}")
    bad = (scored & anomalous)[labels]
    image[bad] = ((1 - FILL_ALPHA) * image[bad] + FILL_ALPHA * np.array(ANOMALOUS_RGB)).astype(np.uint8)
    edge = _thick(boundaries(labels) & scored[labels], line)
    image[edge] = np.where(bad[edge][:, None], ANOMALOUS_RGB, BENIGN_RGB).astype(np.uint8)
    height, width = labels.shape
    for x0, y0, x1, y1 in ([] if item_boxes is None else np.asarray(item_boxes, int).reshape(-1, 4)):
        if x1 <= x0 or y1 <= y0:
            continue
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width) - 1, min(y1, height) - 1
        box = np.zeros(labels.shape, bool)
        box[y0, x0:x1 + 1] = box[y1, x0:x1 + 1] = box[y0:y1 + 1, x0] = box[y0:y1 + 1, x1] = True
        image[_thick(box, line)] = ITEM_RGB
    if truth is not None:
        mask = np.asarray(truth) > 0
        if mask.shape != labels.shape:
            raise ValueError(f"truth {mask.shape} and labels {labels.shape} differ in size")
        image[_thick(boundaries(mask.astype(np.int8)) & mask, line)] = TRUTH_RGB
    return image
