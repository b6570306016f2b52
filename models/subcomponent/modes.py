"""Classification modes registry: how superpixels reach the backbone (``crop`` or ``pool``)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from models.backbones import Backbone
from models.crops import masked_crops
from models.segments import Segments
from models.subcomponent.pooling import superpixel_pool
from scans.registry import Registry

# (backbone, images (B, C, H, W), segments, crop size, crop batch) → logits (S, classes)
Classify = Callable[[Backbone, torch.Tensor, Segments, int, int], torch.Tensor]

CLASSIFY_MODES: Registry[Classify] = Registry("classification mode")


@CLASSIFY_MODES.register("crop")
def classify_crops(backbone: Backbone, images: torch.Tensor, segments: Segments, crop_size: int,
                   crop_batch: int) -> torch.Tensor:
    """The paper's way: every superpixel's masked crop, resized, through the whole backbone;
    all crops in forwards of ``crop_batch``."""
    crops = masked_crops(images, segments, crop_size)
    return torch.cat([backbone(chunk) for chunk in torch.split(crops, crop_batch)], 0)


@CLASSIFY_MODES.register("pool")
def classify_pooled(backbone: Backbone, images: torch.Tensor, segments: Segments, crop_size: int,
                    crop_batch: int) -> torch.Tensor:
    """One backbone pass per image; features averaged inside each superpixel; the head classifies."""
    return backbone.head(superpixel_pool(backbone.features(images), segments))
