"""SSN losses in block form: label reconstruction cross-entropy and compactness.

Normalisation. Positions are the first two feature channels, in the scaled units of
``SSN.scaled_input``: one grid cell spans ``pos_scale`` units (2.5 by default), whatever the
image size or K. ``compactness_loss`` is the mean over image pixels of the squared distance,
in those units, between a pixel and the position centroid of its hard superpixel. A perfectly
square cell scores about pos_scale²/6 ≈ 1. ``reconstruction_loss`` is a mean cross-entropy in
nats. So ``λ`` in ``l_rcon + λ·l_comp`` (the paper's 1e-4) weighs one squared cell-width
against one nat, and it means the same at 256² and 1024².
"""

from __future__ import annotations

import torch

from models.ssn.slic import MIN_MASS, Association, candidate_ids, neighbours, to_blocks


def reconstruction_target(parts: torch.Tensor, anomaly: torch.Tensor | None = None) -> torch.Tensor:
    """(B, H, W) long labels to reconstruct: sub-component ids, with anomaly pixels forced into
    labels of their own (offset past every part id) even where ``parts`` does not separate them."""
    target = parts.long()
    if anomaly is not None:
        target = torch.where(anomaly.bool(), target + int(target.max()) + 1, target)
    return target


def reconstruction_loss(assoc: Association, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the labels rebuilt through the superpixels: R̂ = column-normalised QᵀR,
    R* = Q R̂ row-normalised, −mean log R*[p, y_p]. Sparse: O(N·9) memory whatever the labels."""
    grid, soft, valid = assoc.grid, assoc.soft, assoc.valid
    if target.shape[-2:] != (grid.height, grid.width):
        raise ValueError(f"target is {tuple(target.shape[-2:])}, image is {grid.height}×{grid.width}")
    b, n_cells, n_labels = soft.shape[0], grid.n_cells, int(target.max()) + 1
    labels = to_blocks(target[:, None].to(soft.dtype), grid).squeeze(3).long()  # (B, r, c, P)
    cells = candidate_ids(grid, soft.device).clamp_min(0)  # off-grid: soft is 0 there
    batch = torch.arange(b, device=soft.device).view(b, 1, 1, 1, 1) * n_cells
    index = (batch + cells[None, ..., None]) * n_labels + labels[:, :, :, None, :]  # (B, r, c, 9, P)
    weight = soft * valid[:, :, :, None, :]
    histogram = soft.new_zeros(b * n_cells * n_labels).index_add_(0, index.flatten(), weight.flatten())
    histogram = histogram.view(b * n_cells, n_labels)
    mass = histogram.sum(1, keepdim=True)
    per_superpixel = (histogram / mass.clamp_min(MIN_MASS)).flatten()
    picked = (soft * per_superpixel[index]).sum(-2)
    kept_mass = (mass / mass.clamp_min(MIN_MASS)).flatten()[index // n_labels]
    total = (soft * kept_mass).sum(-2)  # Σ_l R*[p, l]: 1 unless a candidate is a dead centre
    nll = -torch.log((picked / total).clamp_min(1e-8))
    return (nll * valid).sum() / valid.sum()


def compactness_loss(assoc: Association) -> torch.Tensor:
    """Mean squared distance between each pixel's position (channels 0, 1) and the position
    centroid of its hard superpixel; gradients reach the centroids, not the hard choice."""
    positions = assoc.blocks[..., :2, :]  # (B, r, c, 2, P)
    centroid = neighbours(assoc.centres[..., :2])  # (B, r, c, 9, 2)
    hard = assoc.hard_candidates()  # (B, r, c, P)
    chosen = torch.gather(centroid, 3, hard[..., None].expand(-1, -1, -1, -1, 2)).transpose(-1, -2)
    valid = assoc.valid
    return (((positions - chosen) ** 2).sum(-2) * valid).sum() / valid.sum()
