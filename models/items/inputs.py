"""Item inputs registry: what a model sees of an item crop: masked to air, or with its context,
its mask as a channel and its own frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from models.items.crops import CROP_MARGIN, masked
from models.items.frame import FRAME_CHANNELS, item_frame

CONTEXT_MARGIN = 20  # px of the scan kept around an item (about 2 cm at 1 mm pitch)


@dataclass(frozen=True)
class ItemInput:
    """How an item crop becomes a model's input: a crop of the item's box grown by ``margin`` px;
    with ``context`` the pixels outside the mask keep what the scan shows and the mask is an extra
    channel (else they read air); with ``frame`` the item's frame channels follow (models.items.frame)."""

    name: str
    description: str
    margin: int
    context: bool
    frame: bool

    @property
    def extra_channels(self) -> int:
        """Channels beside the modality's."""
        return int(self.context) + FRAME_CHANNELS * int(self.frame)

    def fill(self, air: Sequence[float]) -> tuple[float, ...]:
        """Each input channel's value past the crop: air, mask 0, frame 0."""
        return (*air, *(0.0,) * self.extra_channels)

    def frames(self, masks: torch.Tensor) -> torch.Tensor | None:
        """(B, FRAME_CHANNELS, h, w) frame channels of whole item crops' (B, h, w) masks (None
        when this input has none)."""
        if not self.frame:
            return None
        return torch.from_numpy(np.stack([item_frame(m) for m in masks.cpu().numpy()])).to(masks.device)

    def assemble(self, images: torch.Tensor, masks: torch.Tensor, air: Sequence[float],
                 frames: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C + extra, H, W) input of (B, C, H, W) unmasked crops or tiles and their (B, H, W)
        masks; ``frames`` (B, FRAME_CHANNELS, H, W) cut with the tiles, computed from the masks
        when None (right for whole crops only)."""
        if not self.context:
            return masked(images, masks, air)
        parts = [images, masks[:, None].to(images.dtype)]
        if self.frame:
            parts.append((self.frames(masks) if frames is None else frames).to(images.dtype))
        return torch.cat(parts, 1)


# what models.catalog's ITEM_INPUTS names
MASKED = ItemInput("masked", "the crop with every pixel outside the item's mask set to air", CROP_MARGIN,
                   context=False, frame=False)
CONTEXT = ItemInput("context", f"the crop and {CONTEXT_MARGIN} px around it as scanned, the item's mask as a "
                  "channel", CONTEXT_MARGIN, context=True, frame=False)
FRAME = ItemInput("frame", "context, plus the item's frame: |coordinates| along its principal axes, signed "
                  "distance to its outline, its length and width", CONTEXT_MARGIN, context=True, frame=True)
