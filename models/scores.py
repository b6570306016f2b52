"""Object- and scan-level scores from segment scores: the max over the segments inside each."""

from __future__ import annotations

import torch

from models.segments import Segments


def max_by(values: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """(n,) max of ``values`` over each group of ``index``; NaN for an empty group."""
    out = torch.full((n,), float("nan"), dtype=values.dtype, device=values.device)
    return out.scatter_reduce(0, index, values, "amax", include_self=False)


def scan_scores(scores: torch.Tensor, segments: Segments) -> torch.Tensor:
    """(B,) max segment score of each image."""
    return max_by(scores, segments.image_index, int(segments.counts.numel()))


def item_overlap(segments: Segments, objects: torch.Tensor, n_objects: list[int]) -> torch.Tensor:
    """(S, 1 + Σ n_objects) pixel counts of each segment in the background (column 0) and in each
    item of the batch, items numbered across images in order."""
    offsets = torch.tensor([0, *n_objects], device=objects.device).cumsum(0)[:-1]
    local = objects.long()
    glob = torch.where(local > 0, local - 1 + offsets.view(-1, 1, 1), torch.full_like(local, -1))
    width = int(sum(n_objects)) + 1
    pairs = segments.labels.reshape(-1) * width + (glob.reshape(-1) + 1)
    return torch.bincount(pairs, minlength=segments.n * width).view(segments.n, width)


def object_scores(scores: torch.Tensor, segments: Segments, objects: torch.Tensor,
                  n_objects: list[int]) -> list[torch.Tensor]:
    """Per image, (n_objects,) scores of items 1..n: the max over the segments whose majority of
    pixels lie in the item; an item that is no segment's majority takes the max over the
    segments that touch it; an item with no pixel at all gets NaN."""
    n_total = int(sum(n_objects))
    if n_total == 0:
        return [scores.new_zeros(0) for _ in range(objects.shape[0])]
    overlap = item_overlap(segments, objects, n_objects)
    majority = overlap.argmax(1) - 1  # −1 where the segment is mostly background
    owned = majority >= 0
    by_majority = max_by(scores[owned], majority[owned], n_total)
    seg_idx, obj_col = torch.nonzero(overlap[:, 1:] > 0, as_tuple=True)
    by_touch = max_by(scores[seg_idx], obj_col, n_total)
    combined = torch.where(torch.isnan(by_majority), by_touch, by_majority)
    return list(torch.split(combined, list(n_objects)))
