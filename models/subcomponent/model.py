"""Joint sub-component model: SSN superpixels, each classified {benign, anomaly} by a backbone."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.backbones import build_backbone
from models.catalog import CLASSIFY_MODES
from models.segments import Segments, segments_of
from models.ssn import SSN, connected_labels
from models.ssn.losses import reconstruction_target
from models.ssn.slic import Association
from scans.modalities import modality_air, modality_channels

ANOMALY = 1  # class index of the positive class; 0 is benign
IGNORE = -100  # target of a superpixel partly on an anomaly: no loss (cross_entropy's ignore_index)


@dataclass
class SubcomponentOutput:
    """Superpixels of a batch and the logits of those classified: (S, 2) for all of them, or
    (len(classified), 2) when training sampled a subset (``classified``: their indices)."""

    assoc: Association
    segments: Segments
    logits: torch.Tensor
    classified: torch.Tensor | None = None  # (S',) long; None: every superpixel, in order

    @property
    def probs(self) -> torch.Tensor:
        """Anomaly probability of every classified superpixel."""
        return torch.softmax(self.logits.float(), 1)[:, ANOMALY]


@dataclass(frozen=True)
class JointLoss:
    """``total = ssn + classification`` and the SSN's own parts."""

    total: torch.Tensor
    classification: torch.Tensor
    ssn: torch.Tensor
    reconstruction: torch.Tensor
    compactness: torch.Tensor


def superpixel_targets(segments: Segments, anomaly: torch.Tensor, fraction: float,
                       min_pixels: int | None = None) -> torch.Tensor:
    """(S,) long: 1 where more than ``fraction`` of a superpixel's pixels are anomaly pixels (or,
    with ``min_pixels``, at least that many: a small anomaly whole inside a large superpixel), 0
    where none is, IGNORE in between: a superpixel partly on an anomaly is neither benign nor
    anomalous, and training it as benign would teach the model that anomaly pixels are benign."""
    share = segments.fraction(anomaly > 0)
    targets = torch.full_like(share, IGNORE, dtype=torch.long)
    positive = share > fraction
    if min_pixels is not None:
        positive |= segments.sum((anomaly > 0).float()) >= min_pixels
    targets[positive] = 1
    targets[share == 0] = 0
    return targets


def sample_superpixels(segments: Segments, targets: torch.Tensor, per_image: int) -> torch.Tensor:
    """(S,) bool: every positive superpixel of each image and random negatives, so that an image
    contributes ``per_image`` superpixels (at least one negative where it has any); ignored ones
    never."""
    keep = targets == 1
    noise = torch.rand(segments.n, device=targets.device)
    for image in range(int(segments.counts.numel())):
        mine = segments.image_index == image
        negatives = torch.nonzero(mine & (targets == 0), as_tuple=True)[0]
        wanted = min(negatives.numel(), max(per_image - int((mine & keep).sum()), 1))
        if wanted:
            keep[negatives[torch.argsort(noise[negatives])[:wanted]]] = True
    return keep


def balanced_class_weights(targets: torch.Tensor, num_classes: int = 2) -> torch.Tensor:
    """n / (classes · n_c) for the classes present, so each class weighs the same in the loss
    (ignored targets counted in neither)."""
    targets = targets[targets != IGNORE]
    counts = torch.bincount(targets, minlength=num_classes).float()
    weights = targets.numel() / (num_classes * counts.clamp_min(1))
    return torch.where(counts > 0, weights, torch.zeros_like(weights))


class SubcomponentModel(nn.Module):
    """SSN over-segmentation, then a {benign, anomaly} probability per superpixel.

    ``mode`` is a CLASSIFY_MODES name: ``crop`` classifies each superpixel's masked crop of
    ``crop_size``² (the paper's), ``pool`` averages one backbone pass's last three feature levels
    inside each superpixel and classifies them with a small head.
    A superpixel is a positive training example when more than ``anomaly_fraction`` of it is
    anomaly pixels, a negative when none of it is, and ignored in between; ``class_balance``
    weights the two classes equally in the loss.
    """

    def __init__(self, *, modality: str = "pseudo", backbone: str = "resnet18", mode: str = "pool",
                 ssn_feature: str = "pixel", n_superpixels: int = 100, compactness: float = 1e-4,
                 crop_size: int = 64, crop_batch: int = 256, crops_per_image: int = 16,
                 anomaly_fraction: float = 0.5,
                 class_balance: bool = True, weights: str | os.PathLike | None = None,
                 train_iters: int = 5, test_iters: int = 10):
        super().__init__()
        self.classify = CLASSIFY_MODES[mode]
        if not 8 <= crop_size <= 512:
            raise ValueError(f"crop_size must be in 8..512 (the paper uses 64–224), got {crop_size}")
        if not 0.0 <= anomaly_fraction < 1.0:
            raise ValueError(f"anomaly_fraction must be in [0, 1), got {anomaly_fraction}")
        channels = modality_channels(modality)
        self.air = modality_air(modality)  # what masked-out pixels of a crop read
        self.modality, self.mode = modality, mode
        if crops_per_image < 1:
            raise ValueError(f"crops_per_image must be at least 1, got {crops_per_image}")
        self.crop_size, self.crop_batch, self.crops_per_image = crop_size, crop_batch, crops_per_image
        self.anomaly_fraction, self.class_balance = anomaly_fraction, class_balance
        self.ssn = SSN(in_channels=channels, feature=ssn_feature, n_superpixels=n_superpixels,
                       compactness=compactness, train_iters=train_iters, test_iters=test_iters,
                       modality=modality)
        self.backbone = build_backbone(backbone, in_channels=channels, num_classes=2, weights=weights)
        self.pool_head = self.classify.head(self.backbone)  # None in crop mode

    def forward(self, images: torch.Tensor, anomaly: torch.Tensor | None = None) -> SubcomponentOutput:
        """Superpixels (connected, small ones merged) and their logits for a (B, C, H, W) batch.
        Training with the ``anomaly`` map in a mode that samples (crop) classifies every positive
        superpixel and sampled negatives, ``crops_per_image`` per image; otherwise all of them
        (evaluation: crops in chunks of ``crop_batch``, under the caller's no_grad)."""
        assoc = self.ssn(images)
        segments = segments_of(connected_labels(assoc))
        keep = None
        if self.training and anomaly is not None and self.classify.samples_in_training:
            targets = superpixel_targets(segments, anomaly, self.anomaly_fraction)
            keep = sample_superpixels(segments, targets, self.crops_per_image)
        logits = self.classify.classify(self.backbone, self.pool_head, images, segments, self.crop_size,
                                        self.crop_batch, keep, self.air)
        classified = None if keep is None else torch.nonzero(keep, as_tuple=True)[0]
        return SubcomponentOutput(assoc, segments, logits, classified)

    def loss(self, out: SubcomponentOutput, parts: torch.Tensor, anomaly: torch.Tensor) -> JointLoss:
        """SSN loss against parts (anomalies kept apart) plus weighted superpixel cross-entropy over
        the classified superpixels."""
        ssn = self.ssn.loss(out.assoc, reconstruction_target(parts, anomaly))
        targets = superpixel_targets(out.segments, anomaly, self.anomaly_fraction)
        if out.classified is not None:
            targets = targets[out.classified]
        weight = balanced_class_weights(targets) if self.class_balance else None
        if (targets != IGNORE).any():
            classification = F.cross_entropy(out.logits.float(), targets, weight=weight, ignore_index=IGNORE)
        else:  # every superpixel ignored: nothing to learn from this batch, and no NaN
            classification = out.logits.float().sum() * 0.0
        return JointLoss(ssn.total + classification, classification, ssn.total, ssn.reconstruction,
                         ssn.compactness)
