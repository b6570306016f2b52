"""Object-level baseline on found items: each item crop as its item input shows it, squared and
resized, classified whole."""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from models.backbones import build_backbone
from models.catalog import ITEM_INPUTS
from scans.modalities import modality_air, modality_channels, modality_thickness


def square_resized(image: torch.Tensor, size: int, fill: tuple[float, ...]) -> torch.Tensor:
    """(C, h, w) crop → (C, size, size): padded to a square with ``fill`` (air; the item keeps its
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
    """A registry backbone classifying an item's crop at ``input_size``² {benign, anomaly} as its
    ``item_input`` shows it (models.items.inputs): the paper's object-level pipeline, on the items
    the item stage found."""

    def __init__(self, *, modality: str = "hlz", backbone: str = "resnet18", input_size: int = 160,
                 weights: str | os.PathLike | None = None, item_input: str = "masked"):
        super().__init__()
        self.modality, self.input_size = modality, input_size
        self.input = ITEM_INPUTS[item_input]
        self.air = modality_air(modality)
        self.fill = self.input.fill(self.air)
        self.thickness = modality_thickness(modality)
        channels = modality_channels(modality) + self.input.extra_channels
        self.backbone = build_backbone(backbone, in_channels=channels, num_classes=2, weights=weights,
                                       extra_channels=self.input.extra_channels)

    def prepare(self, crops: list[torch.Tensor], masks: list[torch.Tensor]) -> torch.Tensor:
        """(B, C', S, S) inputs from unmasked (C, h, w) item crops of any sizes and their (h, w) masks."""
        inputs = [self.input.assemble(c[None], m[None], self.air)[0]
                  for c, m in zip(crops, masks, strict=True)]
        return torch.stack([square_resized(x, self.input_size, self.fill) for x in inputs])

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, 2) logits of prepared inputs."""
        return self.backbone(inputs)
