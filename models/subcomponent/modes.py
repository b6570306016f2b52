"""Classification modes registry: how superpixels reach the backbone (``crop`` or ``pool``)."""

from __future__ import annotations

import torch
from torch import nn

from models.backbones import Backbone
from models.crops import masked_crops
from models.segments import Segments
from models.subcomponent.pooling import superpixel_pool

# feature levels (strides) a pool head sees: the last three of the backbone, e.g. ResNet's 8, 16, 32
POOL_LEVELS = 3


def feature_levels(features: nn.Sequential, x: torch.Tensor, levels: int = POOL_LEVELS) -> list[torch.Tensor]:
    """The last ``levels`` resolutions of a backbone's feature extractor: the output of the last
    block at each spatial size, coarsest last."""
    outputs: list[torch.Tensor] = []
    for block in features:
        x = block(x)
        if outputs and outputs[-1].shape[-2:] == x.shape[-2:]:
            outputs[-1] = x
        else:
            outputs.append(x)
    return outputs[-levels:]


class CropMode:
    """The paper's way: each superpixel's masked crop, resized, through the whole backbone, the
    crops in forwards of ``crop_batch``; no extra parameters. A crop costs a whole backbone pass,
    so training classifies a sample of the superpixels (``samples_in_training``)."""

    samples_in_training = True

    def head(self, backbone: Backbone) -> nn.Module | None:
        return None

    def classify(self, backbone: Backbone, head: nn.Module | None, images: torch.Tensor,
                 segments: Segments, crop_size: int, crop_batch: int,
                 keep: torch.Tensor | None = None, fill: tuple[float, ...] | None = None) -> torch.Tensor:
        """Logits of the superpixels ``keep`` selects (bool (S,)), all when None; pixels of other
        superpixels read ``fill`` (the modality's air)."""
        crops = masked_crops(images, segments, crop_size, keep, fill)
        return torch.cat([backbone(chunk) for chunk in torch.split(crops, crop_batch)], 0)


class PoolMode:
    """One backbone pass per image; the features of its last three levels averaged inside each
    superpixel (so a superpixel smaller than a stride-32 cell still sees stride-8 detail),
    concatenated and classified by a small MLP head. Every superpixel costs the same one pass, so
    training classifies them all."""

    samples_in_training = False

    def head(self, backbone: Backbone) -> nn.Module:
        first = next(m for m in backbone.features.modules() if isinstance(m, nn.Conv2d))
        was_training = backbone.training
        backbone.eval()
        with torch.no_grad():
            probe = torch.zeros(1, first.in_channels, 64, 64, device=first.weight.device)
            width = sum(level.shape[1] for level in feature_levels(backbone.features, probe))
        backbone.train(was_training)
        return nn.Sequential(nn.Linear(width, 256), nn.ReLU(inplace=True), nn.Linear(256, 2))

    def classify(self, backbone: Backbone, head: nn.Module | None, images: torch.Tensor,
                 segments: Segments, crop_size: int, crop_batch: int,
                 keep: torch.Tensor | None = None, fill: tuple[float, ...] | None = None) -> torch.Tensor:
        """Logits of the superpixels ``keep`` selects (bool (S,)), all when None (``fill``: unused,
        nothing is masked)."""
        levels = feature_levels(backbone.features, images)
        pooled = torch.cat([superpixel_pool(level, segments) for level in levels], 1)
        return head(pooled if keep is None else pooled[keep])


# what models.catalog's CLASSIFY_MODES names
CROP_MODE = CropMode()
POOL_MODE = PoolMode()
