"""Connectivity enforcement: split superpixels into connected pieces, merge the small ones away."""

from __future__ import annotations

import numpy as np
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
