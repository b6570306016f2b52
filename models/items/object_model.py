"""Object-level baseline on found items: each masked item crop, squared and resized, classified whole."""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from models.backbones import build_backbone
from scans.modalities import modality_air, modality_channels


def square_resized(image: torch.Tensor, size: int, fill: tuple[float, ...]) -> torch.Tensor:
    """(C, h, w) masked crop → (C, size, size): padded to a square with air (the item keeps its
    shape), then area-resized."""
    c, h, w = image.shape
    side = max(h, w)
    air = torch.as_tensor(fill, dtype=image.dtype, device=image.device).view(-1, 1, 1)
    square = air.expand(c, side, side).clone()
    top, left = (side - h) // 2, (side - w) // 2
    square[:, top:top + h, left:left + w] = image
    mode = "area" if side >= size else "bilinear"
    return F.interpolate(square[None], size=(size, size), mode=mode)[0]


class ItemObjectModel(nn.Module):
    """A registry backbone classifying an item's masked crop at ``input_size``² {benign, anomaly}:
    the paper's object-level pipeline, on the items the item stage found."""

    def __init__(self, *, modality: str = "hlz", backbone: str = "resnet18", input_size: int = 160,
                 weights: str | os.PathLike | None = None):
        super().__init__()
        self.modality, self.input_size = modality, input_size
        self.air = modality_air(modality)
        self.backbone = build_backbone(backbone, in_channels=modality_channels(modality), num_classes=2,
                                       weights=weights)

    def prepare(self, crops: list[torch.Tensor]) -> torch.Tensor:
        """(B, C, S, S) inputs from masked (C, h, w) item crops of any sizes."""
        return torch.stack([square_resized(c, self.input_size, self.air) for c in crops])

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, 2) logits of prepared inputs."""
        return self.backbone(inputs)
