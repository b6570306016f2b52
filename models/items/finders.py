"""Item finders registry: ``unet`` (a light segmenter with instance separation) and ``maskrcnn``.

A finder is an nn.Module with ``prepare(images, objects)`` (full-resolution scans and their item
instance maps as the finder trains on them: a study caches these once), ``loss(images, objects)``
(a scalar to minimise, in train mode, on prepared ones) and ``find(images)`` (per full-resolution
scan an (H, W) long instance map of the items it found, 0 = background, and their confidences).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from models.catalog import DENSE_ENCODERS
from models.maskrcnn.model import build_detector
from models.maskrcnn.targets import detection_targets, instance_map
from models.weight_files import load_encoder_weights, load_fitted, load_state_dict
from scans.modalities import modality_air, modality_channels


@dataclass
class FoundItems:
    """The items found in one scan: an instance map 1..n at the scan's size, and (n,) confidences."""

    objects: torch.Tensor  # (H, W) long
    scores: torch.Tensor  # (n,) float
    classes: list[str] | None = None  # each item's class, where the finder names classes

    def masks(self) -> list[np.ndarray]:
        """(H, W) bool mask of each found item, in id order."""
        objects = self.objects.cpu().numpy()
        return [objects == i for i in range(1, len(self.scores) + 1)]


# where an item's centre target lies: the centroid of its pixels, or the deepest point of its body
# (farthest from its outline: a cable or a thin arm cannot drag it out of the body or towards a
# neighbour it touches)
CENTERS = ("centroid", "body")


def _body_centres(one: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n + 1,) rows and columns of each item's deepest pixel (item 0: unused), by the Euclidean
    distance to the nearest pixel outside the item, first in scan order on ties."""
    labels = one.cpu().numpy()
    cy, cx = torch.zeros(n + 1), torch.zeros(n + 1)
    for item, box in enumerate(ndimage.find_objects(labels, max_label=n), start=1):
        if box is None:
            continue
        padded = np.pad(labels[box] == item, 1)  # the box's edge is outside the item
        depth = ndimage.distance_transform_edt(padded)[1:-1, 1:-1]
        y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
        cy[item], cx[item] = float(box[0].start + y), float(box[1].start + x)
    return cy.to(one.device), cx.to(one.device)


def center_targets(objects: torch.Tensor, sigma: float, center: str = "centroid"
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per (B, h, w) instance map: a heatmap with a Gaussian of ``sigma`` pixels at each item's
    centre (B, h, w), and each item pixel's offset to its item's centre (B, 2, h, w; dy, dx); the
    centre is its pixels' centroid or the deepest point of its body (``center``, CENTERS)."""
    if center not in CENTERS:
        raise ValueError(f"center must be one of {', '.join(CENTERS)}, got {center!r}")
    b, h, w = objects.shape
    ys = torch.arange(h, device=objects.device, dtype=torch.float32).view(h, 1).expand(h, w)
    xs = torch.arange(w, device=objects.device, dtype=torch.float32).view(1, w).expand(h, w)
    heat = torch.zeros(b, h, w, device=objects.device)
    offsets = torch.zeros(b, 2, h, w, device=objects.device)
    for i, one in enumerate(objects.long()):
        n = int(one.max())
        if n == 0:
            continue
        flat = one.reshape(-1)
        count = torch.bincount(flat, minlength=n + 1).float().clamp_min(1)
        if center == "body":
            cy, cx = _body_centres(one, n)
        else:
            cy = torch.zeros(n + 1, device=one.device).index_add_(0, flat, ys.reshape(-1)) / count
            cx = torch.zeros(n + 1, device=one.device).index_add_(0, flat, xs.reshape(-1)) / count
        for item in torch.unique(flat[flat > 0]).tolist():
            heat[i] = torch.maximum(heat[i], torch.exp(-((ys - cy[item]) ** 2 + (xs - cx[item]) ** 2)
                                                        / (2 * sigma ** 2)))
        inside = one > 0
        offsets[i, 0] = torch.where(inside, cy[one] - ys, 0.0)
        offsets[i, 1] = torch.where(inside, cx[one] - xs, 0.0)
    return heat, offsets


def center_focal_loss(logits: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss of (B, h, w) centre logits against Gaussian targets:
    each target peak (a local maximum above 0.9, one pixel per item) is a positive; every other
    pixel a negative whose penalty fades as (1 − target)⁴ near a centre; summed and divided by the
    number of centres. It pushes the heatmap to one sharp peak per item, where a squared error is
    content with one broad hill over two touching items."""
    peaks = (heat == F.max_pool2d(heat[:, None], 3, 1, 1)[:, 0]) & (heat > 0.9)
    p = torch.sigmoid(logits)
    positive = -F.logsigmoid(logits) * (1 - p) ** 2
    negative = -F.logsigmoid(-logits) * p ** 2 * (1 - heat) ** 4
    return torch.where(peaks, positive, negative).sum() / peaks.sum().clamp_min(1)


CENTER_LOSSES = ("squared", "focal")


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
    """A U-Net (segmentation-models-pytorch, random init) on the scan shrunk ``scale``× predicts,
    for every pixel, whether it is an item's, how near it is to an item's centre (a heatmap) and
    the offset to its item's centre (as Panoptic-DeepLab separates instances). Items are the
    connected regions of item pixels (item probability above ``item_threshold``); a region with
    several heatmap peaks (items that touch or overlap) is split, each pixel joining the peak its
    offset points nearest to (a peak counts when it reaches ``peak_relative`` of its region's
    highest). The heatmap learns by ``center_loss``:
    ``squared`` (weighted squared error) or ``focal`` (center_focal_loss), centred on each item's
    ``center`` (CENTERS: its centroid or the deepest point of its body). Items smaller
    than ``min_item_px`` full-size pixels are dropped; at full size each pixel of the upsampled
    item probability keeps its reduced pixel's item. With ``classes`` (the item classes' names) a
    further head gives every item pixel a class; a found item is named by its pixels' mean class
    probabilities."""

    def __init__(self, *, modality: str = "hlz", encoder: str = "resnet18", scale: int = 2,
                 sigma: float | None = None, min_item_px: int = 400, peak_threshold: float = 0.1,
                 peak_relative: float = 0.5, center_loss: str = "squared", center: str = "centroid",
                 classes: Sequence[str] = (), item_threshold: float = 0.5,
                 weights: str | os.PathLike | None = None):
        super().__init__()
        import segmentation_models_pytorch as smp

        # the centre Gaussian: 16 scan pixels (about 1.6 cm at 1 mm pitch) unless given
        self.modality, self.scale, self.sigma = modality, scale, sigma or 16.0 / scale
        if not 0.0 < peak_relative <= 1.0:
            raise ValueError(f"peak_relative must lie in (0, 1], got {peak_relative}")
        if center_loss not in CENTER_LOSSES:
            raise ValueError(f"center_loss must be one of {', '.join(CENTER_LOSSES)}, got {center_loss!r}")
        self.min_item_px, self.peak_threshold, self.peak_relative = min_item_px, peak_threshold, peak_relative
        if not 0.0 < item_threshold < 1.0:
            raise ValueError(f"item_threshold must lie in (0, 1), got {item_threshold}")
        self.item_threshold = item_threshold
        if center not in CENTERS:
            raise ValueError(f"center must be one of {', '.join(CENTERS)}, got {center!r}")
        self.center_loss, self.center = center_loss, center
        self.classes = tuple(classes)
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"item classes must be distinct, got {list(self.classes)}")
        self.net = smp.Unet(encoder_name=DENSE_ENCODERS[encoder], encoder_depth=4, encoder_weights=None,
                            decoder_channels=(64, 32, 32, 16), in_channels=modality_channels(modality),
                            classes=4 + len(self.classes))  # item logit, centre logit, dy, dx, classes
        if center_loss == "focal":  # CenterNet's start: every pixel a centre with probability 0.1,
            with torch.no_grad():   # so the first steps' focal loss does not drown the other heads
                self.net.segmentation_head[0].bias[1] = -math.log(9.0)
        self.register_buffer("air", torch.tensor(modality_air(modality)).view(1, -1, 1, 1), persistent=False)
        if weights is not None:
            self._load_weights(weights)

    def _load_weights(self, path: str | os.PathLike) -> None:
        """The finder's own state dict (``net.*``; one naming other classes, or none, gives its item,
        centre and offset outputs and the class outputs start afresh), or its U-Net encoder's weights
        (the encoder's own or its torchvision classifier's: models.weight_files.load_encoder_weights)."""
        state = load_state_dict(path)
        if any(key.startswith("net.") for key in state):
            load_fitted(self, self._with_own_classes(state), os.fspath(path), "unet finder")
        else:
            load_encoder_weights(self.net.encoder, path, "unet finder's encoder")

    def _with_own_classes(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``state`` with its last layer's first four outputs (item, centre, offsets) and this
        finder's freshly initialised class outputs, where the two differ in their classes."""
        state, own = dict(state), self.state_dict()
        for key in ("net.segmentation_head.0.weight", "net.segmentation_head.0.bias"):
            theirs, mine = state.get(key), own[key]
            if theirs is not None and theirs.shape != mine.shape and theirs.shape[1:] == mine.shape[1:]:
                merged = mine.clone()
                merged[:4] = theirs[:4]
                state[key] = merged
        return state

    def prepare(self, images: torch.Tensor, objects: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Scans shrunk ``scale``× (area mean) and their instance maps sampled at the same pixels."""
        small = F.avg_pool2d(images, self.scale) if self.scale > 1 else images
        h, w = small.shape[-2:]
        half = self.scale // 2
        return small, None if objects is None else objects[:, half::self.scale, half::self.scale][:, :h, :w]

    def _outputs(self, small: torch.Tensor) -> torch.Tensor:
        h, w = small.shape[-2:]
        pad_h, pad_w = -h % 16, -w % 16
        padded = F.pad(small - self.air, (0, pad_w, 0, pad_h)) + self.air
        return self.net(padded)[..., :h, :w].float()

    def loss(self, images: torch.Tensor, objects: torch.Tensor, item_classes: torch.Tensor | None = None
             ) -> torch.Tensor:
        """Item-pixel cross-entropy, the centre heatmap's loss (``center_loss``: a squared error
        weighted up, as its peaks are few pixels, or the focal loss) and the offsets' L1 error on
        item pixels (in units of ``sigma``); a finder that names classes adds the class
        cross-entropy of item pixels (``item_classes``: (B, h, w) each pixel's class index + 1, 0
        outside items)."""
        out = self._outputs(images)
        objects = objects.long()
        heat, offsets = center_targets(objects, self.sigma, self.center)
        inside = (objects > 0).float()
        item = F.binary_cross_entropy_with_logits(out[:, 0], inside)
        if self.center_loss == "focal":
            center = center_focal_loss(out[:, 1], heat)
        else:
            center = 50.0 * F.mse_loss(torch.sigmoid(out[:, 1]), heat)
        offset_error = (out[:, 2:4] - offsets / self.sigma).abs().sum(1)
        offset = (offset_error * inside).sum() / inside.sum().clamp_min(1)
        return item + center + offset + self._class_loss(out, item_classes)

    def _class_loss(self, out: torch.Tensor, item_classes: torch.Tensor | None) -> torch.Tensor:
        """The class head's cross-entropy over the pixels of items of a known class (0 without one)."""
        if not self.classes:
            if item_classes is not None:
                raise ValueError("this finder names no item classes: it takes no class map")
            return out.new_zeros(())
        if item_classes is None:
            raise ValueError(f"a finder naming {len(self.classes)} item classes trains on class maps "
                             "(item_classes): none given")
        target = item_classes.long() - 1
        known = target >= 0
        per_pixel = F.cross_entropy(out[:, 4:], target.clamp_min(0), reduction="none")
        return (per_pixel * known).sum() / known.sum().clamp_min(1)

    def class_map(self, objects: torch.Tensor, object_class: Sequence[str]) -> torch.Tensor:
        """An instance map's class map for ``loss``: each item pixel its class's index + 1, 0 outside
        items and on items of a class the finder does not name (``object_class``: item i's at i − 1)."""
        index = {name: i + 1 for i, name in enumerate(self.classes)}
        lookup = torch.tensor([0] + [index.get(str(name), 0) for name in object_class], dtype=torch.long)
        return lookup.to(objects.device)[objects.long().clamp(0, len(object_class))]

    @torch.no_grad()
    def find(self, images: torch.Tensor) -> list[FoundItems]:
        out = self._outputs(self.prepare(images)[0])
        found = []
        for o, image in zip(out, images, strict=True):
            size = image.shape[-2:]
            labels = self._group(o)
            item_prob = F.interpolate(torch.sigmoid(o[0])[None, None], size=size, mode="bilinear",
                                      align_corners=False)[0, 0]
            owner = F.interpolate(labels[None, None].float(), size=size, mode="nearest")[0, 0].long()
            # a full-size item pixel whose reduced pixel fell outside every item takes the nearest item
            if bool((owner > 0).any()):
                _, (iy, ix) = ndimage.distance_transform_edt(owner.cpu().numpy() == 0, return_indices=True)
                owner = owner[torch.from_numpy(iy).to(owner.device), torch.from_numpy(ix).to(owner.device)]
            objects = torch.where(item_prob > self.item_threshold, owner, torch.zeros_like(owner))
            items = FoundItems(*_renumbered(objects, item_prob))
            if self.classes:
                items.classes = self._named(o[4:], items)
            found.append(items)
        return found

    def _named(self, class_logits: torch.Tensor, items: FoundItems) -> list[str]:
        """Each found item's class: the highest of its full-size pixels' mean class probabilities."""
        size = items.objects.shape
        probs = F.interpolate(torch.softmax(class_logits.float(), 0)[None], size=size, mode="bilinear",
                              align_corners=False)[0].float()  # float32 under any autocast
        n = len(items.scores)
        flat = items.objects.reshape(-1)
        sums = torch.zeros(n + 1, len(self.classes), device=probs.device)
        sums.index_add_(0, flat, probs.reshape(len(self.classes), -1).T)
        counts = torch.bincount(flat, minlength=n + 1).clamp_min(1)[:, None]
        return [self.classes[i] for i in (sums[1:] / counts[1:]).argmax(1).tolist()]

    def _group(self, out: torch.Tensor) -> torch.Tensor:
        """(h, w) long items 1..n of one reduced scan's outputs: each connected region of item
        pixels is one item unless it holds several strong heatmap peaks; then its pixels join the
        peak their offsets point nearest to (a missed peak never loses an item)."""
        inside = (torch.sigmoid(out[0]) > self.item_threshold).cpu().numpy()
        regions, n_regions = ndimage.label(inside)
        labels = torch.from_numpy(regions).to(out.device).long()
        heat = torch.sigmoid(out[1])
        peaks = (heat == F.max_pool2d(heat[None, None], 11, 1, 5)[0, 0]) & (heat > self.peak_threshold)
        # a peak counts only when it is at least ``peak_relative`` of its region's highest: an item
        # splits where the heatmap is sure, never on the ripples of a half-learnt one
        region_max = torch.zeros(n_regions + 1, device=out.device).scatter_reduce(
            0, labels.reshape(-1), heat.reshape(-1), "amax", include_self=True)
        peaks &= (labels > 0) & (heat >= self.peak_relative * region_max[labels])
        # tied neighbours (a saturated or symmetric top) are one peak: the first pixel of each clump
        clumps, _ = ndimage.label(peaks.cpu().numpy())
        ids, first = np.unique(clumps.ravel(), return_index=True)
        py, px = (torch.from_numpy(v).to(out.device) for v in np.divmod(first[ids > 0], clumps.shape[1]))
        peak_region = labels[py, px]
        per_region = torch.bincount(peak_region, minlength=n_regions + 1)
        split = per_region >= 2
        if bool(split.any()):
            ys, xs = torch.nonzero(split[labels] & (labels > 0), as_tuple=True)
            vy = ys.float() + out[2, ys, xs] * self.sigma
            vx = xs.float() + out[3, ys, xs] * self.sigma
            distance = (vy[:, None] - py[None].float()) ** 2 + (vx[:, None] - px[None].float()) ** 2
            distance[labels[ys, xs][:, None] != peak_region[None]] = float("inf")  # its own region's peaks
            labels[ys, xs] = n_regions + 1 + distance.argmin(1)
        sizes = torch.bincount(labels.reshape(-1), minlength=n_regions + 2 + py.numel())
        small = sizes < self.min_item_px / self.scale ** 2
        small[0] = True
        return torch.where(small[labels], torch.zeros_like(labels), labels)


class MaskRCNNFinder(nn.Module):
    """The paper's item finder: Mask R-CNN (``build_detector``), detections scoring at least
    ``score_threshold`` painted into an instance map."""

    def __init__(self, *, modality: str = "hlz", image_size: int = 512, score_threshold: float = 0.5,
                 mask_threshold: float = 0.5, weights: str | os.PathLike | None = None):
        super().__init__()
        self.modality, self.score_threshold, self.mask_threshold = modality, score_threshold, mask_threshold
        self.classes: tuple[str, ...] = ()  # it names no item classes
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


