"""Segments of a batch: per-image label maps made global, with areas, boxes, centroids, targets."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Segments:
    """The segments (superpixels or objects) of a batch, numbered 0..S−1 across images.

    labels: (B, H, W) long global segment id of every pixel;
    image_index: (S,) image each segment lies in; counts: (B,) segments per image;
    area: (S,) pixels; boxes: (S, 4) float x0, y0, x1, y1 with exclusive ends;
    centroid: (S, 2) float cx, cy in pixels (pixel centres at +0.5).
    """

    labels: torch.Tensor
    image_index: torch.Tensor
    counts: torch.Tensor
    area: torch.Tensor
    boxes: torch.Tensor
    centroid: torch.Tensor

    @property
    def n(self) -> int:
        return int(self.area.numel())

    def offsets(self) -> torch.Tensor:
        """(B,) global id of each image's first segment."""
        return torch.cumsum(self.counts, 0) - self.counts

    def per_image(self, values: torch.Tensor) -> list[torch.Tensor]:
        """Split a (S, ...) tensor into one tensor per image."""
        return list(torch.split(values, self.counts.tolist()))

    def local_labels(self) -> torch.Tensor:
        """(B, H, W) labels numbered from 0 in every image."""
        return self.labels - self.offsets().view(-1, 1, 1)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Σ of a (B, H, W) map over each segment: (S,)."""
        flat = values.reshape(-1).to(torch.float64 if values.dtype == torch.float64 else torch.float32)
        total = torch.zeros(self.n, dtype=flat.dtype, device=flat.device)
        return total.index_add_(0, self.labels.reshape(-1), flat)

    def fraction(self, mask: torch.Tensor) -> torch.Tensor:
        """Fraction of each segment's pixels where ``mask`` (B, H, W) is set: (S,)."""
        return self.sum(mask.float()) / self.area.clamp_min(1).float()


def segments_of(labels: torch.Tensor) -> Segments:
    """Segments from (B, H, W) labels numbered 0..M_b−1 in each image (every id present)."""
    if labels.ndim != 3:
        raise ValueError(f"labels must be (B, H, W), got shape {tuple(labels.shape)}")
    labels = labels.long()
    b, h, w = labels.shape
    counts = labels.flatten(1).amax(1) + 1
    offsets = torch.cumsum(counts, 0) - counts
    glob = labels + offsets.view(-1, 1, 1)
    n = int(counts.sum())
    flat = glob.reshape(-1)
    area = torch.bincount(flat, minlength=n)
    if bool((area == 0).any()):
        raise ValueError("labels must number each image's segments 0..M−1 with none missing")
    ys = torch.arange(h, device=labels.device).view(1, h, 1).expand(b, h, w).reshape(-1)
    xs = torch.arange(w, device=labels.device).view(1, 1, w).expand(b, h, w).reshape(-1)
    big = torch.full((n,), max(h, w), device=labels.device, dtype=torch.long)
    small = torch.full((n,), -1, device=labels.device, dtype=torch.long)
    boxes = torch.stack([
        big.scatter_reduce(0, flat, xs, "amin"), big.scatter_reduce(0, flat, ys, "amin"),
        small.scatter_reduce(0, flat, xs, "amax") + 1, small.scatter_reduce(0, flat, ys, "amax") + 1,
    ], 1).float()
    sums = torch.zeros(n, 2, device=labels.device).index_add_(
        0, flat, torch.stack([xs, ys], 1).float())
    centroid = sums / area[:, None].float() + 0.5
    image_index = torch.repeat_interleave(torch.arange(b, device=labels.device), counts)
    return Segments(glob, image_index, counts, area, boxes, centroid)


def instances_as_segments(objects: torch.Tensor) -> tuple[Segments, torch.Tensor]:
    """Segments for the items of instance maps (B, H, W) (0 = background) and, per segment, the
    item id it stands for (0 for the background segment, where an image has background)."""
    local, ids = [], []
    for one in objects.long():
        present, inverse = torch.unique(one, return_inverse=True)
        local.append(inverse)
        ids.append(present)
    return segments_of(torch.stack(local)), torch.cat(ids)
