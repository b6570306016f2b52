"""Mask R-CNN targets from item instance maps, and instance maps from Mask R-CNN detections."""

from __future__ import annotations

import torch


def detection_targets(objects: torch.Tensor) -> dict[str, torch.Tensor]:
    """torchvision targets for one (H, W) instance map (0 = background): xyxy boxes with
    x1 > x0, labels 1 (item), uint8 masks; zero-length tensors when there is no item."""
    objects = objects.long()
    ids = torch.unique(objects)
    ids = ids[ids > 0]
    masks = objects[None] == ids[:, None, None]  # (N, H, W)
    rows, cols = masks.any(2), masks.any(1)
    h, w = objects.shape
    ys = torch.arange(h, device=objects.device)
    xs = torch.arange(w, device=objects.device)
    boxes = torch.stack([
        torch.where(cols, xs, w).amin(1), torch.where(rows, ys, h).amin(1),
        torch.where(cols, xs, -1).amax(1) + 1, torch.where(rows, ys, -1).amax(1) + 1,
    ], 1).float() if len(ids) else torch.zeros(0, 4)
    return {"boxes": boxes.to(objects.device), "labels": torch.ones(len(ids), dtype=torch.int64,
            device=objects.device), "masks": masks.to(torch.uint8)}


def instance_map(masks: torch.Tensor, scores: torch.Tensor, shape: tuple[int, int],
                 score_threshold: float, mask_threshold: float) -> torch.Tensor:
    """(H, W) long map 1..n of the detections scoring at least ``score_threshold``: each pixel
    goes to the kept detection with the highest mask probability above ``mask_threshold``."""
    keep = scores >= score_threshold
    out = torch.zeros(shape, dtype=torch.long, device=masks.device)
    if not bool(keep.any()):
        return out
    probs = masks[keep, 0]  # (n, H, W)
    best, which = probs.max(0)
    return torch.where(best >= mask_threshold, which + 1, out)
