"""Physics pretraining's network: a dense U-Net predicting each pixel's materials and item class."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.subcomponent.dense import DenseFeatures


class PhysicsPretextNet(nn.Module):
    """``DenseFeatures`` (the very module the sub-component pipeline's ``pool`` mode builds, so its
    state dict loads there) and a small head: per pixel, ``materials`` log areal densities
    (log(1 + g/cm²)) and logits over ``classes`` item classes."""

    def __init__(self, backbone: str, in_channels: int, fill: Sequence[float], materials: int, classes: int):
        super().__init__()
        self.dense = DenseFeatures(backbone, in_channels, fill)
        width = self.dense.out_channels
        self.materials, self.classes = materials, classes
        self.head = nn.Sequential(nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(2 * width, materials + classes, 1))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) → (B, materials, H, W) log areal densities, (B, classes, H, W) class logits."""
        out = self.head(self.dense(images))
        return out[:, :self.materials], out[:, self.materials:]


def pretext_loss(densities: torch.Tensor, logits: torch.Tensor, target_densities: torch.Tensor,
                 target_classes: torch.Tensor, masks: torch.Tensor,
                 class_weight: float = 0.1) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean squared error of the log areal densities plus ``class_weight`` × the item-class cross
    entropy, both over the pixels inside ``masks`` (B, H, W) only; also each part's value."""
    inside = masks.float()
    count = inside.sum().clamp_min(1.0)
    squared = ((densities - target_densities.float()) ** 2).mean(dim=1)
    mse = (squared * inside).sum() / count
    entropy = F.cross_entropy(logits, target_classes.long(), reduction="none")
    ce = (entropy * inside).sum() / count
    return mse + class_weight * ce, {"mse": float(mse.detach()), "class_ce": float(ce.detach())}
