"""Plain dense SSN reference: a (B, N, K) association masked to each pixel's 9 cells, no blocks.

Written for clarity, not speed: the fast path in models/ssn must match it in values and gradients.
The benchmarks reuse it to show what a dense formulation costs.
"""

from __future__ import annotations

import torch

from models.ssn.slic import MIN_MASS, Grid


def initial_cells(grid: Grid, device=None) -> torch.Tensor:
    """(N,) grid cell of every pixel."""
    ys = torch.arange(grid.height, device=device) // grid.cell_h
    xs = torch.arange(grid.width, device=device) // grid.cell_w
    return (ys[:, None] * grid.cols + xs[None, :]).flatten()


def allowed(grid: Grid, device=None) -> torch.Tensor:
    """(N, K) True where cell k is among the 3×3 cells around pixel n's initial cell."""
    cells = initial_cells(grid, device)
    row, col = cells // grid.cols, cells % grid.cols
    k = torch.arange(grid.n_cells, device=device)
    k_row, k_col = k // grid.cols, k % grid.cols
    return ((row[:, None] - k_row[None, :]).abs() <= 1) & ((col[:, None] - k_col[None, :]).abs() <= 1)


def dense_slic(features: torch.Tensor, grid: Grid, n_iters: int):
    """Returns soft (B, N, K), centres (B, K, C), hard labels (B, H, W)."""
    b = features.shape[0]
    f = features.flatten(2).transpose(1, 2)  # (B, N, C)
    cells = initial_cells(grid, f.device)
    one_hot = torch.nn.functional.one_hot(cells, grid.n_cells).to(f.dtype)  # (N, K)
    centres = torch.einsum("nk,bnc->bkc", one_hot, f) / one_hot.sum(0)[None, :, None]
    mask = allowed(grid, f.device)
    for _ in range(n_iters):
        # ‖f − c‖² expanded, so the largest tensor is (B, N, K), not (B, N, K, C)
        dist = (f * f).sum(-1, keepdim=True) + (centres * centres).sum(-1)[:, None, :] \
            - 2 * torch.einsum("bnc,bkc->bnk", f, centres)
        soft = torch.softmax((-dist).masked_fill(~mask, float("-inf")), dim=2)
        mass = soft.sum(1)  # (B, K)
        centres = torch.einsum("bnk,bnc->bkc", soft, f) / mass.clamp_min(MIN_MASS)[..., None]
    labels = soft.argmax(2).view(b, grid.height, grid.width)
    return soft, centres, labels


def dense_losses(soft: torch.Tensor, centres: torch.Tensor, features: torch.Tensor, target: torch.Tensor):
    """Reconstruction CE against ``target`` (B, H, W) labels and compactness on channels 0, 1."""
    n_labels = int(target.max()) + 1
    r = torch.nn.functional.one_hot(target.flatten(1), n_labels).to(soft.dtype)  # (B, N, L)
    per_superpixel = torch.einsum("bnk,bnl->bkl", soft, r) / soft.sum(1).clamp_min(MIN_MASS)[..., None]
    back = torch.einsum("bnk,bkl->bnl", soft, per_superpixel)
    back = back / back.sum(2, keepdim=True)
    picked = torch.gather(back, 2, target.flatten(1)[..., None]).squeeze(2)
    rcon = -torch.log(picked.clamp_min(1e-8)).mean()
    pos = features.flatten(2).transpose(1, 2)[..., :2]
    hard = soft.argmax(2)
    centre_pos = torch.gather(centres[..., :2], 1, hard[..., None].expand(-1, -1, 2))
    comp = ((pos - centre_pos) ** 2).sum(-1).mean()
    return rcon, comp
