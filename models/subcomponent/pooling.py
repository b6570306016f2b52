"""Superpixel pooling: the mean of a bilinearly upsampled feature map inside each segment,
computed without upsampling: each pixel adds its four bilinear weights to a (S, h·w) matrix."""

from __future__ import annotations

import torch

from models.segments import Segments


def _axis_weights(out: int, size: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Source indices and weights of ``F.interpolate(mode='bilinear', align_corners=False)``
    from ``size`` to ``out`` samples along one axis."""
    src = ((torch.arange(out, device=device, dtype=torch.float32) + 0.5) * size / out - 0.5).clamp_min(0)
    lo = src.floor().long().clamp_max(size - 1)
    hi = (lo + 1).clamp_max(size - 1)
    w_hi = src - lo
    return lo, hi, 1 - w_hi, w_hi


def pooling_matrix(segments: Segments, feature_size: tuple[int, int]) -> torch.Tensor:
    """(S, h·w) weights: row s averages the feature cells as segment s sees them upsampled."""
    b, height, width = segments.labels.shape
    h, w = feature_size
    device = segments.labels.device
    y_lo, y_hi, wy_lo, wy_hi = _axis_weights(height, h, device)
    x_lo, x_hi, wx_lo, wx_hi = _axis_weights(width, w, device)
    seg = segments.labels.reshape(b, height, width)
    matrix = torch.zeros(segments.n * h * w, device=device)
    for ys, wy in ((y_lo, wy_lo), (y_hi, wy_hi)):
        for xs, wx in ((x_lo, wx_lo), (x_hi, wx_hi)):
            cell = (ys[:, None] * w + xs[None, :]).expand(b, height, width)
            weight = (wy[:, None] * wx[None, :]).expand(b, height, width)
            matrix.index_add_(0, (seg * (h * w) + cell).reshape(-1), weight.reshape(-1))
    matrix = matrix.view(segments.n, h * w)
    return matrix / segments.area[:, None].float()


def superpixel_pool(features: torch.Tensor, segments: Segments) -> torch.Tensor:
    """(B, D, h, w) features → (S, D): each segment's mean of the upsampled features."""
    b, d, h, w = features.shape
    if (h, w) == tuple(segments.labels.shape[-2:]):  # full resolution: a plain mean per segment
        flat = features.permute(0, 2, 3, 1).reshape(-1, d)
        total = flat.new_zeros(segments.n, d).index_add_(0, segments.labels.reshape(-1), flat)
        return total / segments.area[:, None].to(flat.dtype)
    matrix = pooling_matrix(segments, (h, w)).to(features.dtype)
    flat = features.reshape(b, d, h * w)
    pooled = [m @ f.transpose(0, 1) for m, f in zip(segments.per_image(matrix), flat, strict=True)]
    return torch.cat(pooled, 0)
