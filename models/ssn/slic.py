"""Differentiable SLIC in block form: 9-cell association, O(N·(C+9)) memory, fp32 clustering.

The image is padded to a whole number of grid cells and viewed as (B, rows, cols, C, P): the P
pixels of each cell, pixels innermost so that reductions over channels or candidates run over
contiguous rows. Each pixel is associated with the 3×3 cells around its initial cell only, so the
soft assignment is a (B, rows, cols, 9, P) tensor and no (B, K, N) tensor is ever built.
Padding pixels carry zero features and a zero validity channel, so they never touch a centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# the 9 candidate cells of a pixel, relative to its initial cell; index 4 is the cell itself
OFFSETS: tuple[tuple[int, int], ...] = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
# smallest soft mass a centre is divided by: dead centres shrink instead of exploding gradients
MIN_MASS = 1e-3


@dataclass(frozen=True)
class Grid:
    """The initial superpixel grid of an H×W image: rows×cols cells of cell_h×cell_w pixels."""

    height: int
    width: int
    rows: int
    cols: int
    cell_h: int
    cell_w: int

    @property
    def n_cells(self) -> int:
        return self.rows * self.cols

    @property
    def padded(self) -> tuple[int, int]:
        return self.rows * self.cell_h, self.cols * self.cell_w

    @property
    def pixels_per_cell(self) -> int:
        return self.cell_h * self.cell_w


def make_grid(height: int, width: int, n_superpixels: int) -> Grid:
    """The reference's grid for K superpixels: k_w = ⌊√(K·W/H)⌋, k_h = ⌊√(K·H/W)⌋ cells, each of
    ⌈H/k_h⌉×⌈W/k_w⌉ pixels; rows/cols that would lie wholly in the padding are dropped, so the
    real count is rows·cols ≤ k_h·k_w and every cell holds image pixels."""
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}×{width}")
    if n_superpixels < 1:
        raise ValueError(f"n_superpixels must be >= 1, got {n_superpixels}")
    k_w = min(width, max(1, int(math.sqrt(n_superpixels * width / height))))
    k_h = min(height, max(1, int(math.sqrt(n_superpixels * height / width))))
    cell_h, cell_w = -(-height // k_h), -(-width // k_w)
    return Grid(height, width, -(-height // cell_h), -(-width // cell_w), cell_h, cell_w)


def to_blocks(x: torch.Tensor, grid: Grid) -> torch.Tensor:
    """(B, C, H, W) → (B, rows, cols, C, P), zero-padded at the bottom and right."""
    b, c = x.shape[:2]
    ph, pw = grid.padded
    x = F.pad(x, (0, pw - grid.width, 0, ph - grid.height))
    x = x.view(b, c, grid.rows, grid.cell_h, grid.cols, grid.cell_w)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, grid.rows, grid.cols, c, grid.pixels_per_cell)


def from_blocks(x: torch.Tensor, grid: Grid) -> torch.Tensor:
    """(B, rows, cols, C, P) → (B, C, H, W), padding cropped."""
    b, c = x.shape[0], x.shape[3]
    x = x.reshape(b, grid.rows, grid.cols, c, grid.cell_h, grid.cell_w)
    return x.permute(0, 3, 1, 4, 2, 5).reshape(b, c, *grid.padded)[:, :, :grid.height, :grid.width]


def neighbours(cells: torch.Tensor) -> torch.Tensor:
    """(B, rows, cols, C) → (B, rows, cols, 9, C): each cell's 3×3 neighbourhood, zeros off-grid."""
    rows, cols = cells.shape[1:3]
    padded = F.pad(cells, (0, 0, 1, 1, 1, 1))
    return torch.stack([padded[:, 1 + dy:1 + dy + rows, 1 + dx:1 + dx + cols] for dy, dx in OFFSETS], 3)


def gather_to_cells(contributions: torch.Tensor) -> torch.Tensor:
    """(B, rows, cols, 9, C) sums that each cell sends to its neighbours → (B, rows, cols, C)
    received; what would land off the grid is dropped (it is zero: masked candidates)."""
    b, rows, cols, _, c = contributions.shape
    total = contributions.new_zeros(b, rows + 2, cols + 2, c)
    for o, (dy, dx) in enumerate(OFFSETS):
        total[:, 1 + dy:1 + dy + rows, 1 + dx:1 + dx + cols] += contributions[:, :, :, o]
    return total[:, 1:-1, 1:-1]


def candidate_ids(grid: Grid, device: torch.device | None = None) -> torch.Tensor:
    """(rows, cols, 9) long: absolute cell id of each cell's candidates, −1 off the grid."""
    ys = torch.arange(grid.rows, device=device).view(-1, 1, 1)
    xs = torch.arange(grid.cols, device=device).view(1, -1, 1)
    dy = torch.tensor([o[0] for o in OFFSETS], device=device).view(1, 1, 9)
    dx = torch.tensor([o[1] for o in OFFSETS], device=device).view(1, 1, 9)
    off = (ys + dy < 0) | (ys + dy >= grid.rows) | (xs + dx < 0) | (xs + dx >= grid.cols)
    return ((ys + dy) * grid.cols + xs + dx).masked_fill(off, -1)


def candidate_mask(grid: Grid, device: torch.device | None = None) -> torch.Tensor:
    """(rows, cols, 9, 1) bool: True where the candidate cell lies off the grid."""
    return (candidate_ids(grid, device) < 0).unsqueeze(3)


@dataclass
class Association:
    """The result of differentiable SLIC on a batch.

    blocks: (B, rows, cols, C+1, P) features per cell, last channel 1 on image pixels, 0 on padding;
    soft: (B, rows, cols, 9, P) soft assignment of each pixel to its 9 candidate cells;
    centres: (B, rows, cols, C) superpixel centres after the last update.
    """

    grid: Grid
    blocks: torch.Tensor
    soft: torch.Tensor
    centres: torch.Tensor

    @property
    def valid(self) -> torch.Tensor:
        """(B, rows, cols, P) 1 on image pixels, 0 on padding."""
        return self.blocks[..., -1, :]

    def hard_candidates(self) -> torch.Tensor:
        """(B, rows, cols, P) index (0..8) of each pixel's most likely candidate, the first on
        ties (as argmax). A running max over the 9 contiguous rows: argmax over a strided axis
        of 9 is several times slower on CPU."""
        best = self.soft[..., 0, :]
        index = torch.zeros(best.shape, dtype=torch.long, device=best.device)
        for o in range(1, len(OFFSETS)):
            candidate = self.soft[..., o, :]
            better = candidate > best
            best = torch.where(better, candidate, best)
            index.masked_fill_(better, o)
        return index

    def hard_labels(self) -> torch.Tensor:
        """(B, H, W) long: superpixel (grid cell) id of each pixel, before connectivity."""
        ids = candidate_ids(self.grid, self.soft.device)
        ids = ids.unsqueeze(0).expand(self.soft.shape[0], -1, -1, -1)
        labels = torch.gather(ids, 3, self.hard_candidates())
        return from_blocks(labels.unsqueeze(3), self.grid).squeeze(1)


def _associate(blocks: torch.Tensor, centres: torch.Tensor, off_grid: torch.Tensor) -> torch.Tensor:
    """Softmax over the 9 candidates of −‖f − c‖²; ‖f‖² is the same for every candidate of a
    pixel and cancels, so the logits are one matmul of [f, 1] with [2c, −‖c‖²]."""
    near = neighbours(centres)
    weights = torch.cat([2 * near, -(near * near).sum(-1, keepdim=True)], -1)
    logits = torch.matmul(weights, blocks)
    return torch.softmax(logits.masked_fill(off_grid, float("-inf")), dim=-2)


def _update(blocks: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """Centres as the soft-weighted mean of the pixels that have them among their candidates."""
    sums = gather_to_cells(torch.matmul(soft, blocks.transpose(-1, -2)))
    return sums[..., :-1] / sums[..., -1:].clamp_min(MIN_MASS)


def initial_centres(blocks: torch.Tensor) -> torch.Tensor:
    """Mean feature of each grid cell over its image pixels."""
    sums = blocks.sum(-1)
    return sums[..., :-1] / sums[..., -1:]


def differentiable_slic(features: torch.Tensor, grid: Grid, n_iters: int) -> Association:
    """Cluster (B, C, H, W) features into the grid's superpixels with ``n_iters`` soft updates.

    Runs in float32 (float64 when given float64) whatever autocast says; gradients flow through
    every iteration.
    """
    if features.shape[-2:] != (grid.height, grid.width):
        raise ValueError(f"features are {tuple(features.shape[-2:])}, grid is {grid.height}×{grid.width}")
    if n_iters < 1:
        raise ValueError(f"n_iters must be >= 1, got {n_iters}")
    dtype = torch.float64 if features.dtype == torch.float64 else torch.float32
    with torch.autocast(features.device.type, enabled=False):
        features = features.to(dtype)
        ones = features.new_ones(features.shape[0], 1, *features.shape[2:])
        blocks = to_blocks(torch.cat([features, ones], 1), grid)
        off_grid = candidate_mask(grid, features.device)
        centres = initial_centres(blocks)
        for _ in range(n_iters):
            soft = _associate(blocks, centres, off_grid)
            centres = _update(blocks, soft)
    return Association(grid, blocks, soft, centres)
