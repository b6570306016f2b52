"""Item crops at the scan's native pitch: an item's bounding box (plus a margin), nothing resized."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

# pixels of context kept around an item's mask (all set to air once masked)
CROP_MARGIN = 4


@dataclass(frozen=True)
class Box:
    """x0, y0, x1, y1 in scan pixels, exclusive ends."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    def slices(self) -> tuple[slice, slice]:
        """(rows, cols) of the box in the scan."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def mask_box(mask: np.ndarray, margin: int = CROP_MARGIN) -> Box:
    """The bounding box of a non-empty (H, W) mask grown by ``margin`` and clipped to the scan."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        raise ValueError("an item mask with no pixel has no box")
    height, width = mask.shape
    return Box(max(int(cols[0]) - margin, 0), max(int(rows[0]) - margin, 0),
               min(int(cols[-1]) + 1 + margin, width), min(int(rows[-1]) + 1 + margin, height))


def masked(image: torch.Tensor, mask: torch.Tensor, fill: Sequence[float]) -> torch.Tensor:
    """(…, C, h, w) image with the pixels outside ``mask`` (…, h, w) set to ``fill`` per channel
    (the modality's air: what the scanner reads where the item is not)."""
    air = torch.as_tensor(fill, dtype=image.dtype, device=image.device).view(-1, 1, 1)
    return torch.where(mask.unsqueeze(-3), image, air)
