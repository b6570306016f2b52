"""Item sub-component model: SSN over-segments an item crop (K per item), each superpixel classified."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.backbones import build_backbone
from models.catalog import CLASSIFY_MODES, ITEM_INPUTS
from models.items.class_context import ClassContext
from models.items.evidence import ItemHead
from models.items.overview import ItemOverview, item_overviews
from models.scores import max_by
from models.segments import Segments, segments_of
from models.ssn import SSN
from models.ssn.connectivity import connect_labels, min_region_size
from models.ssn.losses import reconstruction_target
from models.ssn.slic import Association
from models.subcomponent.dense import DenseFeatures
from models.subcomponent.model import IGNORE, sample_superpixels, superpixel_targets
from models.subcomponent.pooling import superpixel_pool
from scans.modalities import modality_air, modality_channels, modality_thickness

# a superpixel belongs to the item when more than this share of its pixels lie inside the item's mask
INSIDE_FRACTION = 0.5
# with small_anomalies: a superpixel holding this many anomaly pixels is a positive whatever its
# share (a whole extra screw, 8–25 px at 1 mm, inside a superpixel of about 260), and the pixel
# loss ignores this many px around every anomaly (the detector's blur spreads it 2–3 px)
SMALL_ANOMALY_PX = 8
IGNORE_BAND_PX = 2
# test-time views of the pool mode's dense features: the crop alone, its four quarter turns, or
# those and their mirror images (the dihedral group training's augmentation draws from)
TEST_VIEWS = (1, 4, 8)


@dataclass
class ItemSubcomponentOutput:
    """Superpixels of a batch of item crops (or tiles of them): which lie inside the item, the
    logits of the classified ones ((S, 2) in pool mode; in crop mode the rows of ``classified``),
    each pixel's anomaly logit (pool mode) and each image's SSN association."""

    segments: Segments
    inside: torch.Tensor  # (S,) bool
    logits: torch.Tensor
    classified: torch.Tensor  # (S',) long: the superpixels ``logits`` are for, in order
    pixel_logits: torch.Tensor | None  # (B, H, W)
    assocs: list[Association]

    @property
    def probs(self) -> torch.Tensor:
        """(S',) anomaly probability of every classified superpixel."""
        return torch.softmax(self.logits.float(), 1)[:, 1]


@dataclass(frozen=True)
class ItemLoss:
    """``total = superpixel + pixel_weight·pixel + ssn`` and its parts."""

    total: torch.Tensor
    superpixel: torch.Tensor
    pixel: torch.Tensor
    ssn: torch.Tensor


def grid_size(height: int, width: int, item_px: float, k: int) -> int:
    """Initial superpixels for an image of height×width cut from an item of ``item_px`` pixels,
    so that the item as a whole gets about ``k``."""
    return max(1, round(k * height * width / max(item_px, 1.0)))


def ignore_band(anomaly: torch.Tensor, px: int = IGNORE_BAND_PX) -> torch.Tensor:
    """(B, H, W) bool: the pixels within ``px`` of an anomaly pixel that are not anomaly themselves."""
    region = anomaly[:, None].float()
    grown = F.max_pool2d(region, 2 * px + 1, stride=1, padding=px)[:, 0] > 0
    return grown & ~(anomaly > 0)


def _view(images: torch.Tensor, turns: int, mirror: bool) -> torch.Tensor:
    """(B, C, H, W) images turned by ``turns`` quarter turns, then mirrored left to right."""
    turned = torch.rot90(images, turns, (-2, -1))
    return turned.flip(-1) if mirror else turned


class ItemSubcomponentModel(nn.Module):
    """An item crop at native pitch as its ``item_input`` shows it (models.items.inputs: masked to
    air, or with its context, mask and frame): SSN superpixels of the image channels, about
    ``n_superpixels`` per item, each classified {benign, anomaly}.

    ``mode`` ``pool``: a U-Net over the crop gives every pixel features (``DenseFeatures``); a
    superpixel's mean feature is classified by a small head, and a 1×1 head gives every pixel an
    anomaly logit, trained beside (``pixel_weight``). ``crop``: the paper's way, each superpixel's
    masked crop resized to ``crop_size``² through the classifier ``backbone``.
    A superpixel is a positive example when more than ``anomaly_fraction`` of it is anomaly, a
    negative when none of it is, ignored in between and outside the item. With ``small_anomalies``
    one holding SMALL_ANOMALY_PX anomaly pixels is a positive too, the pool head sees each
    superpixel's highest pixel logit beside the mean, and the pixel loss ignores a band of
    IGNORE_BAND_PX around anomalies. With ``item_head`` the model carries an ItemHead (fitted
    after training) that scores a whole item from its evidence (models.items.evidence). In eval
    mode the pool mode averages the dense features of ``test_views`` turned and mirrored copies of
    the input (each turned back first); superpixels are the input's own. With ``overview`` (pool
    mode) a small network sees the whole item shrunk (models.items.overview) and modulates every
    pixel's features: a tile's superpixels are judged knowing the item they lie in. With
    ``class_context`` (pool mode: the item classes the item stage names) each item's class
    modulates every pixel's features (models.items.class_context); every call then names the
    class of each input's item.
    """

    def __init__(self, *, modality: str = "hlz", backbone: str = "resnet18", mode: str = "pool",
                 ssn_feature: str = "pixel", n_superpixels: int = 300, compactness: float = 1e-4,
                 anomaly_fraction: float = 0.5, pixel_weight: float = 1.0, crop_size: int = 64,
                 crops_per_image: int = 16, crop_batch: int = 256,
                 weights: str | os.PathLike | None = None, train_iters: int = 5, test_iters: int = 5,
                 item_input: str = "masked", small_anomalies: bool = False, item_head: bool = False,
                 test_views: int = 1, overview: bool = False, class_context: Sequence[str] = ()):
        super().__init__()
        CLASSIFY_MODES[mode]  # an unknown mode raises here, naming the valid ones
        if overview and mode != "pool":
            raise ValueError(f"overview modulates the pool mode's dense features only, not {mode!r}")
        if class_context and mode != "pool":
            raise ValueError(f"class_context modulates the pool mode's dense features only, not {mode!r}")
        if test_views not in TEST_VIEWS:
            raise ValueError(f"test_views must be one of {', '.join(map(str, TEST_VIEWS))}, got {test_views}")
        if test_views > 1 and mode != "pool":
            raise ValueError(f"test_views {test_views} acts on the pool mode's dense features only, "
                             f"not {mode!r}")
        self.test_views = test_views
        if not 0.0 <= anomaly_fraction < 1.0:
            raise ValueError(f"anomaly_fraction must be in [0, 1), got {anomaly_fraction}")
        channels = modality_channels(modality)
        self.modality, self.mode = modality, mode
        self.input = ITEM_INPUTS[item_input]
        self.image_channels = channels
        self.air = modality_air(modality)
        self.fill = self.input.fill(self.air)
        self.thickness = modality_thickness(modality)
        self.n_superpixels, self.anomaly_fraction = n_superpixels, anomaly_fraction
        self.small_anomalies = small_anomalies
        self.pixel_weight = pixel_weight
        self.crop_size, self.crops_per_image, self.crop_batch = crop_size, crops_per_image, crop_batch
        self.ssn = SSN(in_channels=channels, feature=ssn_feature, n_superpixels=n_superpixels,
                       compactness=compactness, train_iters=train_iters, test_iters=test_iters,
                       modality=modality)
        self.ssn_learns = any(p.requires_grad for p in self.ssn.parameters())
        in_channels = channels + self.input.extra_channels
        if mode == "pool":
            self.dense = DenseFeatures(backbone, in_channels, self.fill, weights=weights,
                                       extra_channels=self.input.extra_channels)
            width = self.dense.out_channels
            self.pixel_head = nn.Conv2d(width, 1, 1)
            logit_stats = 2 if small_anomalies else 1  # the mean pixel logit, and the max
            self.head = nn.Sequential(nn.Linear(width + logit_stats, 64), nn.ReLU(inplace=True),
                                      nn.Linear(64, 2))
            # the whole item in view: its overview modulates every pixel's features
            self.overview = ItemOverview(channels + 1, width) if overview else None
            # the item's class as the item stage names it, modulating them too
            self.class_context = ClassContext(class_context, width) if class_context else None
        else:
            self.overview = self.class_context = None
            self.backbone = build_backbone(backbone, in_channels=in_channels, num_classes=2, weights=weights,
                                           extra_channels=self.input.extra_channels)
        # a learned item score on each item's evidence, fitted after training on held-out items
        self.item_head = ItemHead() if item_head else None

    def assemble(self, images: torch.Tensor, masks: torch.Tensor,
                 frames: torch.Tensor | None = None) -> torch.Tensor:
        """The model's (B, C', H, W) input from (B, C, H, W) unmasked crops or tiles and their
        (B, H, W) masks (``frames``: the tiles' frame channels; computed for whole crops)."""
        return self.input.assemble(images, masks, self.air, frames)

    def superpixels(self, images: torch.Tensor, item_px: torch.Tensor) -> tuple[Segments, list[Association]]:
        """Connected SSN superpixels of each image, about ``n_superpixels`` per whole item
        (``item_px``: (B,) the pixels of the item each image was cut from)."""
        assocs, labels, limits = [], [], []
        height, width = images.shape[-2:]
        grad = torch.enable_grad() if self.ssn_learns and torch.is_grad_enabled() else torch.no_grad()
        for image, px in zip(images, item_px.tolist(), strict=True):
            n = grid_size(height, width, px, self.n_superpixels)
            with grad:  # SSN_pix has nothing to learn: no graph through its iterations
                assoc = self.ssn(image[None].float(), n_superpixels=n)
            labels.append(assoc.hard_labels()[0])
            limits.append(min_region_size(height, width, assoc.grid.n_cells))
            assocs.append(assoc)
        if not labels:
            return segments_of(torch.zeros((0, height, width), dtype=torch.long, device=images.device)), []
        connected = connect_labels(torch.stack(labels), torch.tensor(limits))  # on the device
        return segments_of(connected), assocs

    def class_index(self, names: Sequence[str]) -> torch.Tensor | None:
        """(B,) the class index of each item's class name for ``forward``; None for a model without
        class context (which reads none)."""
        return None if self.class_context is None else self.class_context.index(names)

    def forward(self, images: torch.Tensor, masks: torch.Tensor, item_px: torch.Tensor | None = None,
                anomaly: torch.Tensor | None = None, overviews: torch.Tensor | None = None,
                item_class: torch.Tensor | None = None) -> ItemSubcomponentOutput:
        """(B, C', H, W) inputs made by ``assemble``, their (B, H, W) item masks, and the item areas
        (default: the masks' own). Superpixels follow the image channels. Training in crop mode
        with the ``anomaly`` map classifies every positive superpixel and sampled negatives,
        ``crops_per_image`` per image. With an overview branch, ``overviews`` are the whole items'
        (models.items.overview; tiles need theirs given, whole items default to their own). With
        class context, ``item_class`` is each input's item class (``class_index``)."""
        if self.class_context is not None and item_class is None:
            raise ValueError("this model reads each item's class (class_context): name it (item_class)")
        if item_px is None:
            item_px = masks.flatten(1).sum(1)
        segments, assocs = self.superpixels(images[:, :self.image_channels], item_px)
        inside = segments.fraction(masks) > INSIDE_FRACTION
        if self.mode == "pool":
            features = self.dense_features(images)
            if self.overview is not None:
                if overviews is None:  # the inputs are whole items: each is its own overview
                    overviews = item_overviews(images[:, :self.image_channels], masks, self.air)
                features = self.overview(features, overviews)
            if self.class_context is not None:
                features = self.class_context(features, item_class)
            pixel_logits = self.pixel_head(features)
            stats = [superpixel_pool(features, segments), superpixel_pool(pixel_logits, segments)]
            if self.small_anomalies:
                stats.append(max_by(pixel_logits[:, 0].reshape(-1), segments.labels.reshape(-1),
                                    segments.n)[:, None])
            logits = self.head(torch.cat(stats, 1))
            every = torch.arange(segments.n, device=images.device)
            return ItemSubcomponentOutput(segments, inside, logits, every,
                                          pixel_logits[:, 0], assocs)
        keep = inside
        if self.training and anomaly is not None:
            targets = superpixel_targets(segments, anomaly, self.anomaly_fraction)
            keep = sample_superpixels(segments, torch.where(inside, targets, IGNORE), self.crops_per_image)
        logits = CLASSIFY_MODES["crop"].classify(self.backbone, None, images, segments, self.crop_size,
                                                 self.crop_batch, keep, self.fill)
        classified = torch.nonzero(keep, as_tuple=True)[0]
        return ItemSubcomponentOutput(segments, inside, logits, classified, None, assocs)

    def dense_features(self, images: torch.Tensor) -> torch.Tensor:
        """The pool mode's (B, F, H, W) pixel features: in eval mode the mean over ``test_views``
        turned (and mirrored) copies of ``images``, each turned back; the views of one shape pass
        the network as one batch."""
        if self.training or self.test_views == 1:
            return self.dense(images)
        views = [(turns, mirror) for mirror in (False, True)[:self.test_views // 4] for turns in range(4)]
        total = torch.zeros((), device=images.device)
        for parity in (0, 1):  # even turns keep the crop's shape, odd ones swap its sides
            group = [view for view in views if view[0] % 2 == parity]
            seen = torch.cat([_view(images, turns, mirror) for turns, mirror in group])
            for (turns, mirror), features in zip(group, self.dense(seen).split(images.shape[0]), strict=True):
                total = total + torch.rot90(features.flip(-1) if mirror else features, -turns, (-2, -1))
        return total / self.test_views

    def targets(self, out: ItemSubcomponentOutput, anomaly: torch.Tensor) -> torch.Tensor:
        """(S,) superpixel targets: 1, 0 or IGNORE (partly anomaly, or outside the item)."""
        targets = superpixel_targets(out.segments, anomaly, self.anomaly_fraction,
                                     SMALL_ANOMALY_PX if self.small_anomalies else None)
        return torch.where(out.inside, targets, IGNORE)

    def loss(self, out: ItemSubcomponentOutput, anomaly: torch.Tensor, masks: torch.Tensor,
             parts: torch.Tensor | None = None) -> ItemLoss:
        """Superpixel cross-entropy over the classified superpixels inside the item, the pixel head's
        binary cross-entropy over the item's pixels, and the SSN loss when its features learn."""
        targets = self.targets(out, anomaly)[out.classified]
        zero = out.logits.float().sum() * 0.0
        superpixel = (F.cross_entropy(out.logits.float(), targets, ignore_index=IGNORE)
                      if (targets != IGNORE).any() else zero)
        pixel = zero
        judged = masks & ~ignore_band(anomaly) if self.small_anomalies else masks
        if out.pixel_logits is not None and judged.any():
            pixel = F.binary_cross_entropy_with_logits(out.pixel_logits.float()[judged],
                                                       (anomaly > 0)[judged].float())
        ssn = zero
        if self.ssn_learns and parts is not None:
            target = reconstruction_target(parts, anomaly)
            each = [self.ssn.loss(a, t[None]).total for a, t in zip(out.assocs, target, strict=True)]
            ssn = sum(each) / len(each)
        return ItemLoss(superpixel + self.pixel_weight * pixel + ssn, superpixel, pixel, ssn)
