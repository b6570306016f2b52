"""An item's own frame from its mask alone: coordinates along its principal axes, distance to its
outline, its length and width (so a model on found items knows where a pixel sits in the item)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

FRAME_CHANNELS = 5  # |u|, |v|, signed distance to the outline, item length, item width
DISTANCE_SCALE = 32.0  # px: the distance channel is d / 32 clipped to [−1, 1] (about 3 cm at 1 mm)
SIZE_SCALE = 512.0  # px: the length and width channels are the extents over 512 (about 50 cm at 1 mm)
DISTANCE_CLIP = 127  # px: distances are kept as int8 when stored for every pixel of a training set


@dataclass(frozen=True)
class ItemAxes:
    """An item's principal axes in its crop: the mask's centroid (y, x), unit vectors of the major
    and minor axis (rows of ``axes``, each (dy, dx)) and the mask's half-extent along each (px)."""

    centre: np.ndarray  # (2,) float64 y, x
    axes: np.ndarray  # (2, 2) float64
    half: np.ndarray  # (2,) float64

    @classmethod
    def of(cls, mask: np.ndarray) -> ItemAxes:
        """The axes of a non-empty (h, w) mask: the eigenvectors of its pixels' covariance."""
        ys, xs = np.nonzero(mask)
        if ys.size == 0:
            raise ValueError("an item mask with no pixel has no axes")
        points = np.stack([ys, xs], 1).astype(np.float64)
        centre = points.mean(0)
        offsets = points - centre
        _, vectors = np.linalg.eigh(offsets.T @ offsets / len(points))
        axes = vectors[:, ::-1].T  # eigh sorts ascending: the major axis first
        half = np.maximum(np.abs(offsets @ axes.T).max(0), 0.5)
        return cls(centre, axes, half)

    def coordinates(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(2, len(rows), len(cols)) float32: |u| and |v|, the distance of each pixel from the centre
        along the major and minor axis over the half-extents (1 at the item's far ends). Absolute
        values: an axis has no sign that a mask alone could fix."""
        dy = (rows.astype(np.float64) - self.centre[0])[:, None]
        dx = (cols.astype(np.float64) - self.centre[1])[None, :]
        return np.stack([np.abs(a[0] * dy + a[1] * dx) / h for a, h in zip(self.axes, self.half, strict=True)]
                        ).astype(np.float32)

    def size_channels(self) -> tuple[float, float]:
        """The item's length and width as channel values."""
        return float(2 * self.half[0] / SIZE_SCALE), float(2 * self.half[1] / SIZE_SCALE)


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """(h, w) float32 Euclidean distance to the mask's outline in px: positive inside, negative out."""
    inside = ndimage.distance_transform_edt(mask)
    outside = ndimage.distance_transform_edt(~mask)
    return (inside - outside).astype(np.float32)


def stored_distance(mask: np.ndarray) -> np.ndarray:
    """The signed distance clipped to ±DISTANCE_CLIP px, as int8 (all the frame channel keeps)."""
    return np.clip(np.rint(signed_distance(mask)), -DISTANCE_CLIP, DISTANCE_CLIP).astype(np.int8)


def frame_channels(axes: ItemAxes, distance: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(FRAME_CHANNELS, len(rows), len(cols)) float32 for the pixels ``rows`` × ``cols`` of an item's
    crop (they may lie past it), ``distance`` their signed distance in px (past the crop: −DISTANCE_CLIP)."""
    length, width = axes.size_channels()
    shape = (len(rows), len(cols))
    return np.concatenate([axes.coordinates(rows, cols),
                           np.clip(distance / DISTANCE_SCALE, -1.0, 1.0).astype(np.float32)[None],
                           np.full((1, *shape), length, np.float32), np.full((1, *shape), width, np.float32)])


def item_frame(mask: np.ndarray) -> np.ndarray:
    """(FRAME_CHANNELS, h, w) float32 frame channels of a whole (h, w) item crop's mask."""
    mask = np.asarray(mask, bool)
    h, w = mask.shape
    distance = stored_distance(mask).astype(np.float32)
    return frame_channels(ItemAxes.of(mask), distance, np.arange(h), np.arange(w))
