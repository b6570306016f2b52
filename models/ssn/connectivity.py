"""Connectivity enforcement: split superpixels into connected pieces, merge the small ones away."""

from __future__ import annotations

import numpy as np
import torch
from skimage.measure import label as connected_components

# components smaller than this fraction of the mean superpixel area are merged (the reference's)
MIN_SIZE_FRACTION = 0.06


def _adjacent_pairs(components: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both directions of every 4-neighbour pair of pixels in different components."""
    a = np.concatenate([components[:, :-1].ravel(), components[:-1, :].ravel()])
    b = np.concatenate([components[:, 1:].ravel(), components[1:, :].ravel()])
    differ = a != b
    a, b = a[differ], b[differ]
    return np.concatenate([a, b]), np.concatenate([b, a])


def enforce_connectivity(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Labels (H, W) → int64 labels 0..M−1 where every label is one 4-connected region and no
    region is smaller than ``min_size`` pixels (unless it is the only one). Each small region
    joins its largest neighbour; regions of a label that fall apart get labels of their own."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be 2-D, got shape {labels.shape}")
    components = connected_components(labels, background=-1, connectivity=1).astype(np.int64) - 1
    while True:
        sizes = np.bincount(components.ravel())
        n = sizes.size
        small = sizes < min_size
        if n == 1 or not small.any():
            break
        src, dst = _adjacent_pairs(components)
        keep = small[src]
        src, dst = src[keep], dst[keep]
        # rank by (size, id): a region only joins a strictly higher-ranked one, so no cycles
        rank = sizes.astype(np.int64) * n + np.arange(n)
        best = np.full(n, -1, dtype=np.int64)
        np.maximum.at(best, src, rank[dst])
        movers = np.flatnonzero((best >= 0) & (best > rank))
        if movers.size == 0:
            break
        parent = np.arange(n)
        parent[movers] = best[movers] % n
        while True:  # follow chains a→b→c to their roots
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        roots = parent == np.arange(n)
        components = (np.cumsum(roots) - 1)[parent][components]  # renumber the roots 0..M−1
    return components


def min_region_size(height: int, width: int, n_superpixels: int) -> int:
    """The reference's threshold, 0.06·N/K pixels."""
    return int(MIN_SIZE_FRACTION * height * width / max(1, n_superpixels))


def _jump(parent: torch.Tensor) -> torch.Tensor:
    """Follow ``parent`` pointers (flat indices) to their fixed points."""
    while True:
        grand = parent[parent]
        if torch.equal(grand, parent):
            return parent
        parent = grand


def _components(labels: torch.Tensor) -> torch.Tensor:
    """(B, H, W) labels → for each pixel the flat index (over the batch) of the first pixel, in
    raster order, of its 4-connected region of equal labels: min-index propagation to neighbours
    with pointer jumping, all images at once on the labels' device."""
    b, h, w = labels.shape
    index = torch.arange(b * h * w, device=labels.device).view(b, h, w)
    across = labels[:, :, 1:] == labels[:, :, :-1]
    down = labels[:, 1:, :] == labels[:, :-1, :]
    none = b * h * w
    comp = index
    while True:
        low = comp.clone()
        low[:, :, :-1] = torch.minimum(low[:, :, :-1], torch.where(across, comp[:, :, 1:], none))
        low[:, :, 1:] = torch.minimum(low[:, :, 1:], torch.where(across, comp[:, :, :-1], none))
        low[:, :-1, :] = torch.minimum(low[:, :-1, :], torch.where(down, comp[:, 1:, :], none))
        low[:, 1:, :] = torch.minimum(low[:, 1:, :], torch.where(down, comp[:, :-1, :], none))
        flat = low.view(-1)
        flat = flat[flat[flat]]  # two jumps: every pointer stays inside its region and only decreases
        if torch.equal(flat, comp.view(-1)):
            return comp
        comp = flat.view(b, h, w)


def enforce_connectivity_batch(labels: torch.Tensor, min_size: int | torch.Tensor) -> torch.Tensor:
    """``enforce_connectivity`` for a batch (B, H, W) on the labels' own device (no copy to the
    host), with the same labels: each image's regions numbered 0..M_b−1 in raster order of their
    first pixel, small ones (below ``min_size``, one value or one per image) joined to their
    largest neighbour. Regions of different images never touch, so one pass serves the batch."""
    b, h, w = labels.shape
    device = labels.device
    first = _components(labels).view(-1)
    pixel = torch.arange(b * h * w, device=device)
    roots = first == pixel
    comp = (torch.cumsum(roots, 0) - 1)[first].view(b, h, w)  # ids ordered by image, then raster
    image_of = pixel[roots] // (h * w)
    limits = torch.as_tensor(min_size, device=device).expand(b)  # one value, or one per image
    src_all = torch.cat([comp[:, :, :-1].reshape(-1), comp[:, :-1, :].reshape(-1)])
    dst_all = torch.cat([comp[:, :, 1:].reshape(-1), comp[:, 1:, :].reshape(-1)])
    while True:
        n = int(image_of.numel())
        sizes = torch.bincount(comp.view(-1), minlength=n)
        small = sizes < limits[image_of]
        if not bool(small.any()):
            break
        differ = src_all != dst_all
        src = torch.cat([src_all[differ], dst_all[differ]])
        dst = torch.cat([dst_all[differ], src_all[differ]])
        keep = small[src]
        src, dst = src[keep], dst[keep]
        rank = sizes * n + torch.arange(n, device=device)  # by (size, id): no cycles
        best = torch.full((n,), -1, dtype=torch.long, device=device)
        best.scatter_reduce_(0, src, rank[dst], reduce="amax")
        movers = (best >= 0) & (best > rank)
        if not bool(movers.any()):
            break
        parent = torch.arange(n, device=device)
        parent[movers] = best[movers] % n
        parent = _jump(parent)
        kept = parent == torch.arange(n, device=device)
        renumber = torch.cumsum(kept, 0) - 1
        comp = renumber[parent][comp]
        src_all, dst_all = renumber[parent][src_all], renumber[parent][dst_all]
        image_of = image_of[kept]
    counts = torch.bincount(image_of, minlength=b)
    offset = torch.cumsum(counts, 0) - counts
    return comp - offset.view(b, 1, 1)


def connect_labels(labels: torch.Tensor, min_size: int | torch.Tensor) -> torch.Tensor:
    """Connectivity enforcement of a batch (B, H, W) where it is fastest, with the same labels
    either way: on a GPU the batched torch pass (the labels never leave the device); on the CPU
    the per-image numpy one (faster there than the torch pass: BENCHMARKS.md)."""
    if labels.is_cuda:
        return enforce_connectivity_batch(labels, min_size)
    if labels.shape[0] == 0:
        return labels.long()
    limits = torch.as_tensor(min_size).expand(labels.shape[0]).tolist()
    out = [enforce_connectivity(one, int(m)) for one, m in zip(labels.cpu().numpy(), limits, strict=True)]
    return torch.from_numpy(np.stack(out)).to(labels.device)
