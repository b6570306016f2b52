"""An item's evidence for a learned item head: what its superpixel and pixel scores say, where the
strongest sits in the item's frame, how many blobs it has against its size, and its size."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from models.items.frame import DISTANCE_SCALE, ItemAxes, signed_distance

EVIDENCE_FEATURES = (
    "top1_logit", "top3_logit", "top10_logit", "mean_logit",  # superpixel probabilities as logits
    "max_pixel_logit",  # the highest pixel logit inside the item (pool mode; else top1)
    "n_over_half", "n_over_0.9",  # log(1 + superpixels above 0.5, above 0.9)
    "area_over_half",  # share of the item's superpixel area above 0.5
    "top_u", "top_v", "top_distance",  # where the strongest superpixel sits in the item's frame
    "top3_spread",  # mean distance between the three strongest superpixels over the item's length
    "n_blobs", "n_small_blobs", "largest_blob",  # pixel blobs above 0.5: log(1 + count), ≤ 40 px, log area
    "blobs_per_area",  # blobs per 10⁴ px of item
    "length", "width", "aspect", "log_px",  # the item's size
    # screw-like blobs in the image itself: small dense spots standing out of their surroundings
    "n_dense_blobs", "dense_blobs_per_area", "n_dense_rods", "n_inner_dense_blobs",
    "max_blob_contrast", "max_blob_z",
)
SMALL_BLOB_PX = 40  # a blob this small is screw-sized at about 1 mm pitch
LOGIT_CLIP = 12.0
# a dense blob: high-energy attenuation (−ln T) above its surroundings (a white top-hat over
# TOPHAT_PX) by DENSE_CONTRAST, of DENSE_AREA px: a screw upright (2–4.5 mm across) or lying
# (6–20 mm long; at most SCREW_LENGTH_PX end to end, so cables and edges are no screws); a rod
# when its long axis is ROD_ELONGATION times its short one; inner when its centre lies INNER_PX
# inside the outline (an item's own screws sit at its edges and on its board)
TOPHAT_PX, DENSE_CONTRAST, DENSE_AREA, SCREW_LENGTH_PX = 9, 0.15, (2, 120), 24.0
ROD_ELONGATION, INNER_PX = 2.5, 8.0


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return max(min(math.log(p / (1 - p)), LOGIT_CLIP), -LOGIT_CLIP)


def dense_blobs(attenuation: np.ndarray | None, zeff: np.ndarray | None, mask: np.ndarray,
                distance: np.ndarray) -> list[float]:
    """Screw-like blobs of an item from its (h, w) high-energy attenuation and effective Z: their
    count (log 1 + n), count per 10⁴ item px, rods among them, those inside the item (log 1 + n),
    the highest contrast and the highest Z of any; zeros where the modality has no attenuation."""
    if attenuation is None:
        return [0.0] * 6
    contrast = ndimage.white_tophat(attenuation, size=TOPHAT_PX)
    blobs, n = ndimage.label((contrast > DENSE_CONTRAST) & mask)
    if not n:
        return [0.0] * 6
    ys, xs = np.nonzero(blobs)
    ids = blobs[ys, xs] - 1
    count = np.bincount(ids, minlength=n).astype(np.float64)
    my, mx = np.bincount(ids, ys, n) / count, np.bincount(ids, xs, n) / count
    dy, dx = ys - my[ids], xs - mx[ids]
    syy, sxx, sxy = (np.bincount(ids, v, n) / count for v in (dy * dy, dx * dx, dy * dx))
    spread = np.sqrt(((syy - sxx) / 2) ** 2 + sxy ** 2)
    major, minor = (syy + sxx) / 2 + spread, np.maximum((syy + sxx) / 2 - spread, 1e-3)
    # a uniform bar's length is √12 standard deviations along it
    small = (count >= DENSE_AREA[0]) & (count <= DENSE_AREA[1]) & (np.sqrt(12 * major) <= SCREW_LENGTH_PX)
    rods = small & (np.sqrt(np.maximum(major, 1e-3) / minor) >= ROD_ELONGATION)
    inner = small & (distance[np.rint(my).astype(int), np.rint(mx).astype(int)] > INNER_PX)
    index = np.flatnonzero(small) + 1
    peak = float(np.max(ndimage.maximum(contrast, blobs, index))) if index.size else 0.0
    z = float(np.max(ndimage.maximum(zeff, blobs, index))) if index.size and zeff is not None else 0.0
    return [math.log1p(int(small.sum())), float(small.sum()) * 1e4 / max(float(mask.sum()), 1.0),
            math.log1p(int(rods.sum())), math.log1p(int(inner.sum())), peak, z / 30.0]


def item_evidence(labels: np.ndarray, probs: np.ndarray, area: np.ndarray, mask: np.ndarray,
                  pixel_logits: np.ndarray | None, attenuation: np.ndarray | None = None,
                  zeff: np.ndarray | None = None) -> np.ndarray:
    """(len(EVIDENCE_FEATURES),) float32 evidence of one item crop: its (h, w) superpixel ``labels``
    (−1 outside the item) with their ``probs`` and ``area``, its (h, w) ``mask``, in pool mode the
    (h, w) ``pixel_logits``, and where the modality carries them the crop's high-energy
    ``attenuation`` (−ln T) and effective Z (``zeff``)."""
    mask = np.asarray(mask, bool)
    axes = ItemAxes.of(mask)
    distance = signed_distance(mask)
    length, width = axes.size_channels()
    px = float(mask.sum())
    order = np.argsort(-probs) if probs.size else np.zeros(0, np.int64)

    def top_mean(k: int) -> float:
        return _logit(float(probs[order[:k]].mean())) if probs.size else -LOGIT_CLIP

    centroids = np.zeros((0, 2))
    if probs.size:
        ys, xs = np.nonzero(labels >= 0)
        ids = labels[ys, xs]
        counts = np.bincount(ids, minlength=probs.size).clip(min=1)
        centroids = np.stack([np.bincount(ids, c, probs.size) / counts for c in (ys, xs)], 1)
    top_u = top_v = top_distance = spread = 0.0
    if probs.size:
        cy, cx = centroids[order[0]]
        top_u, top_v = (float(c[0, 0]) for c in axes.coordinates(np.array([cy]), np.array([cx])))
        top_distance = float(np.clip(distance[round(cy), round(cx)] / DISTANCE_SCALE, -1, 1))
        top = centroids[order[:3]]
        if len(top) > 1:
            pairs = [np.hypot(*(top[i] - top[j])) for i in range(len(top)) for j in range(i + 1, len(top))]
            spread = float(np.mean(pairs) / max(2 * axes.half[0], 1.0))
    if pixel_logits is not None:
        inside = pixel_logits[mask]
        max_pixel = float(np.clip(inside.max(), -LOGIT_CLIP, LOGIT_CLIP)) if inside.size else -LOGIT_CLIP
        blobs, n_blobs = ndimage.label((pixel_logits > 0) & mask)
        sizes = np.bincount(blobs.ravel())[1:] if n_blobs else np.zeros(0, np.int64)
    else:
        max_pixel = top_mean(1)
        sizes = np.zeros(0, np.int64)
    over_half = probs > 0.5
    return np.array([
        top_mean(1), top_mean(3), top_mean(10), _logit(float(probs.mean())) if probs.size else -LOGIT_CLIP,
        max_pixel,
        math.log1p(int(over_half.sum())), math.log1p(int((probs > 0.9).sum())),
        float(area[over_half].sum() / max(area.sum(), 1)) if probs.size else 0.0,
        top_u, top_v, top_distance, spread,
        math.log1p(len(sizes)), math.log1p(int((sizes <= SMALL_BLOB_PX).sum())),
        math.log1p(int(sizes.max())) if sizes.size else 0.0,
        len(sizes) * 1e4 / max(px, 1.0),
        length, width, width / max(length, 1e-6), math.log1p(px),
        *dense_blobs(attenuation, zeff, mask, distance),
    ], np.float32)


class ItemHead(nn.Module):
    """Logistic regression on standardised item evidence: P(the item holds an anomaly). Fitted
    once, on items the classifier never trained on (``fit``); ``fitted`` says whether it was."""

    def __init__(self, n_features: int = len(EVIDENCE_FEATURES)):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.register_buffer("fitted", torch.tensor(False))

    def forward(self, evidence: torch.Tensor) -> torch.Tensor:
        """(N, F) evidence → (N,) anomaly probabilities."""
        return torch.sigmoid(self.linear((evidence.float() - self.mean) / self.scale)[:, 0])

    def fit(self, evidence: np.ndarray, labels: np.ndarray, l2: float = 1e-2, iterations: int = 200) -> None:
        """Fit by L-BFGS on (N, F) ``evidence`` and (N,) bool ``labels`` (both classes needed), with an
        ``l2`` penalty on the weights (standardised features)."""
        labels = np.asarray(labels, bool)
        if labels.all() or not labels.any():
            raise ValueError("an item head needs anomalous and benign items to fit on")
        x = torch.from_numpy(np.asarray(evidence, np.float32))
        y = torch.from_numpy(labels.astype(np.float32))
        self.mean.copy_(x.mean(0))
        self.scale.copy_(x.std(0).clamp_min(1e-3))
        z = (x - self.mean) / self.scale
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        optimizer = torch.optim.LBFGS(self.linear.parameters(), max_iter=iterations,
                                      line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = nn.functional.binary_cross_entropy_with_logits(self.linear(z)[:, 0], y)
            loss = loss + l2 * self.linear.weight.pow(2).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            optimizer.step(closure)
        self.fitted.fill_(True)
