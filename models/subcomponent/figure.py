"""The paper's figure: superpixel contours over a modality, red where anomalous, green where benign."""

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
