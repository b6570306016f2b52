"""Item finders registry: ``unet`` (a light segmenter with instance separation) and ``maskrcnn``.

A finder is an nn.Module with ``prepare(images, objects)`` (full-resolution scans and their item
instance maps as the finder trains on them: a study caches these once), ``loss(images, objects)``
(a scalar to minimise, in train mode, on prepared ones) and ``find(images)`` (per full-resolution
scan an (H, W) long instance map of the items it found, 0 = background, and their confidences).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from models.maskrcnn.model import build_detector
from models.maskrcnn.targets import detection_targets, instance_map
from scans.modalities import modality_air, modality_channels
from scans.registry import Registry

BACKGROUND, INTERIOR, BOUNDARY = 0, 1, 2


@dataclass
class FoundItems:
    """The items found in one scan: an instance map 1..n at the scan's size, and (n,) confidences."""

    objects: torch.Tensor  # (H, W) long
    scores: torch.Tensor  # (n,) float

    def masks(self) -> list[np.ndarray]:
        """(H, W) bool mask of each found item, in id order."""
        objects = self.objects.cpu().numpy()
        return [objects == i for i in range(1, len(self.scores) + 1)]


def _boundary_targets(objects: torch.Tensor, width: int) -> torch.Tensor:
    """(B, h, w) classes: background, item interior, or item boundary (item pixels within
    ``width`` of another item or of the background)."""
    labels = objects.float()[:, None]
    k = 2 * width + 1
    high = F.max_pool2d(labels, k, 1, width)
    low = -F.max_pool2d(-labels, k, 1, width)
    edge = (high != low)[:, 0]
    out = torch.where(objects > 0, torch.full_like(objects, INTERIOR), torch.full_like(objects, BACKGROUND))
    return torch.where(edge & (objects > 0), torch.full_like(objects, BOUNDARY), out).long()


def _renumbered(objects: torch.Tensor, prob: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The instance map with the ids that kept a pixel renumbered 1..n, and each one's mean ``prob``."""
    n = int(objects.max())
    counts = torch.bincount(objects.reshape(-1), minlength=n + 1).float()
    sums = torch.zeros(n + 1, device=objects.device)
    sums.index_add_(0, objects.reshape(-1), prob.reshape(-1).float())
    present = counts[1:] > 0
    relabel = torch.zeros(n + 1, dtype=torch.long, device=objects.device)
    relabel[1:][present] = torch.arange(1, int(present.sum()) + 1, device=objects.device)
    return relabel[objects], (sums[1:] / counts[1:].clamp_min(1))[present]


class UNetFinder(nn.Module):
    """A U-Net (segmentation-models-pytorch, random init) on the scan shrunk ``scale``× classifies
    every pixel as background, item interior or item boundary. Items are the connected interiors
    (smaller than ``min_item_px`` full-size pixels dropped), grown back over the boundary; at full
    size each pixel of the upsampled item probability joins its nearest item."""

    def __init__(self, *, modality: str = "hlz", encoder: str = "resnet18", scale: int = 4,
                 boundary_px: int = 1, min_item_px: int = 400, weights: str | os.PathLike | None = None):
        super().__init__()
        import segmentation_models_pytorch as smp

        self.modality, self.scale = modality, scale
        self.boundary_px, self.min_item_px = boundary_px, min_item_px
        self.net = smp.Unet(encoder_name=encoder, encoder_depth=4, encoder_weights=None,
                            decoder_channels=(64, 32, 32, 16), in_channels=modality_channels(modality),
                            classes=3)
        self.register_buffer("air", torch.tensor(modality_air(modality)).view(1, -1, 1, 1), persistent=False)
        if weights is not None:
            self.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))

    def prepare(self, images: torch.Tensor, objects: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Scans shrunk ``scale``× (area mean) and their instance maps sampled at the same pixels."""
        small = F.avg_pool2d(images, self.scale) if self.scale > 1 else images
        h, w = small.shape[-2:]
        half = self.scale // 2
        return small, None if objects is None else objects[:, half::self.scale, half::self.scale][:, :h, :w]

    def _logits(self, small: torch.Tensor) -> torch.Tensor:
        h, w = small.shape[-2:]
        pad_h, pad_w = -h % 16, -w % 16
        padded = F.pad(small - self.air, (0, pad_w, 0, pad_h)) + self.air
        return self.net(padded)[..., :h, :w]

    def loss(self, images: torch.Tensor, objects: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of background / interior / boundary on prepared scans."""
        targets = _boundary_targets(objects.long(), self.boundary_px)
        return F.cross_entropy(self._logits(images).float(), targets)

    @torch.no_grad()
    def find(self, images: torch.Tensor) -> list[FoundItems]:
        probs = torch.softmax(self._logits(self.prepare(images)[0]).float(), 1)
        found = []
        for p, image in zip(probs, images, strict=True):
            interior = (p.argmax(0) == INTERIOR).cpu().numpy()
            labels, n = ndimage.label(interior)
            small_min = self.min_item_px / self.scale ** 2
            sizes = np.bincount(labels.ravel(), minlength=n + 1)
            keep = np.flatnonzero(sizes[1:] >= small_min) + 1
            relabel = np.zeros(n + 1, np.int64)
            relabel[keep] = np.arange(1, keep.size + 1)
            labels = relabel[labels]
            size = image.shape[-2:]
            if keep.size == 0:
                found.append(FoundItems(torch.zeros(size, dtype=torch.long, device=images.device),
                                        p.new_zeros(0)))
                continue
            # every reduced pixel takes its nearest item, so the item probability decides the edge
            _, (iy, ix) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
            nearest = torch.from_numpy(labels[iy, ix]).to(images.device)
            item_prob = F.interpolate((1 - p[BACKGROUND])[None, None], size=size, mode="bilinear",
                                      align_corners=False)[0, 0]
            owner = F.interpolate(nearest[None, None].float(), size=size, mode="nearest")[0, 0].long()
            objects = torch.where(item_prob > 0.5, owner, torch.zeros_like(owner))
            found.append(FoundItems(*_renumbered(objects, item_prob)))
        return found


class MaskRCNNFinder(nn.Module):
    """The paper's item finder: Mask R-CNN (``build_detector``), detections scoring at least
    ``score_threshold`` painted into an instance map."""

    def __init__(self, *, modality: str = "hlz", image_size: int = 512, score_threshold: float = 0.5,
                 mask_threshold: float = 0.5, weights: str | os.PathLike | None = None):
        super().__init__()
        self.modality, self.score_threshold, self.mask_threshold = modality, score_threshold, mask_threshold
        self.detector = build_detector(modality=modality, min_size=image_size, max_size=image_size,
                                       weights=weights)

    def prepare(self, images: torch.Tensor, objects: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Mask R-CNN trains at full resolution."""
        return images, objects

    def loss(self, images: torch.Tensor, objects: torch.Tensor) -> torch.Tensor:
        targets = [detection_targets(one) for one in objects]
        return sum(dict(self.detector(list(images), targets)).values())

    @torch.no_grad()
    def find(self, images: torch.Tensor) -> list[FoundItems]:
        found = []
        for det in self.detector(list(images)):
            kept = det["scores"] >= self.score_threshold
            objects = instance_map(det["masks"], det["scores"], tuple(images.shape[-2:]),
                                   self.score_threshold, self.mask_threshold)
            score_of = torch.cat([det["scores"].new_zeros(1), det["scores"][kept]])
            found.append(FoundItems(*_renumbered(objects, score_of[objects])))
        return found


ItemFinderBuilder = Callable[..., nn.Module]
ITEM_FINDERS: Registry[ItemFinderBuilder] = Registry("item finder")
ITEM_FINDERS.add("unet", UNetFinder)
ITEM_FINDERS.add("maskrcnn", MaskRCNNFinder)
