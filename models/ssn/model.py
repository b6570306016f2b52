"""The Superpixel Sampling Network: scaled input → feature extractor → differentiable SLIC."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.inputs import check_channels
from models.ssn.connectivity import connect_labels, min_region_size
from models.ssn.features import build_features
from models.ssn.losses import compactness_loss, reconstruction_loss
from models.ssn.slic import Association, Grid, differentiable_slic, make_grid


@dataclass(frozen=True)
class SSNLoss:
    """``total = reconstruction + λ·compactness`` and its parts."""

    total: torch.Tensor
    reconstruction: torch.Tensor
    compactness: torch.Tensor


class SSN(nn.Module):
    """Superpixel Sampling Network over ``in_channels`` modality channels scaled to about [0, 1].

    The input to the feature extractor is [γ_pos·y, γ_pos·x, color_scale·channels] with
    γ_pos = pos_scale·max(cols/W, rows/H), so a grid cell spans ``pos_scale`` units; the default
    color_scale of 26 puts a [0, 1] channel on the scale the reference gives Lab (0.26 per unit
    of 0–100). ``compactness`` is λ (see models/ssn/losses.py for its normalisation).
    """

    def __init__(self, *, in_channels: int, feature: str = "pixel", n_superpixels: int = 100,
                 train_iters: int = 5, test_iters: int = 10, pos_scale: float = 2.5,
                 color_scale: float = 26.0, compactness: float = 1e-4, modality: str | None = None):
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"SSN: in_channels must be >= 1, got {in_channels}")
        self.in_channels = in_channels
        self.modality = modality
        self.n_superpixels = n_superpixels
        self.train_iters = train_iters
        self.test_iters = test_iters
        self.pos_scale = pos_scale
        self.color_scale = color_scale
        self.compactness = compactness
        self.features = build_features(feature, in_channels=in_channels + 2)

    def grid(self, height: int, width: int, n_superpixels: int | None = None) -> Grid:
        """The initial grid for ``n_superpixels`` (default: the model's) over height×width."""
        return make_grid(height, width, n_superpixels or self.n_superpixels)

    def scaled_input(self, image: torch.Tensor, grid: Grid) -> torch.Tensor:
        """(B, 2 + c, H, W): scaled y, scaled x, scaled channels."""
        b, _, h, w = image.shape
        gamma = self.pos_scale * max(grid.cols / w, grid.rows / h)
        ys = torch.arange(h, device=image.device, dtype=image.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.arange(w, device=image.device, dtype=image.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
        return torch.cat([gamma * ys, gamma * xs, self.color_scale * image], 1)

    def forward(self, image: torch.Tensor, n_iters: int | None = None,
                n_superpixels: int | None = None) -> Association:
        """Soft association of every pixel; ``n_iters`` defaults to train/test iterations by mode,
        ``n_superpixels`` to the model's K (an item crop asks for its own)."""
        check_channels(image, self.in_channels, self.modality)
        grid = self.grid(*image.shape[-2:], n_superpixels)
        features = self.features(self.scaled_input(image, grid))
        iters = n_iters or (self.train_iters if self.training else self.test_iters)
        return differentiable_slic(features, grid, iters)

    def loss(self, assoc: Association, target: torch.Tensor) -> SSNLoss:
        """``l_rcon`` against ``target`` labels (B, H, W) plus λ·``l_comp``."""
        rcon = reconstruction_loss(assoc, target)
        comp = compactness_loss(assoc)
        return SSNLoss(rcon + self.compactness * comp, rcon, comp)

    @torch.no_grad()
    def superpixels(self, image: torch.Tensor, assoc: Association | None = None) -> torch.Tensor:
        """(B, H, W) long hard labels after connectivity enforcement, 0..M_b−1 per image."""
        assoc = assoc if assoc is not None else self(image)
        return connected_labels(assoc)


def connected_labels(assoc: Association) -> torch.Tensor:
    """Hard labels of an association, each split into connected regions and small ones merged."""
    grid = assoc.grid
    min_size = min_region_size(grid.height, grid.width, grid.n_cells)
    return connect_labels(assoc.hard_labels(), min_size)  # on the device, whole batch
