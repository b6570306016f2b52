"""Object-level baseline: Mask R-CNN finds items, a registry backbone classifies each item's crop."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import maskrcnn_resnet50_fpn_v2

from models.backbones import adapt_first_conv, build_backbone
from models.crops import masked_crops
from models.inputs import check_channels
from models.maskrcnn.targets import detection_targets, instance_map
from models.segments import Segments, instances_as_segments
from models.subcomponent.model import ANOMALY, balanced_class_weights
from models.weight_files import load_fitted, load_state_dict
from scans.modalities import modality_air, parse_modality

# per-channel mean and std of each base modality over synthetic scans (256², 24 scans), used to
# normalise detector inputs instead of ImageNet's statistics
XRAY_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "pseudo": ((0.87, 0.79, 0.66), (0.27, 0.18, 0.21)),
    "high": ((0.80,), (0.19,)),
    "low": ((0.75,), (0.25,)),
    "zeff": ((0.25,), (0.16,)),
    "high_log": ((0.06,), (0.09,)),  # attenuation −ln T / 4 (512², 24 scans)
    "low_log": ((0.09,), (0.14,)),
}
XRAY_STATS["hlz"] = tuple(sum((XRAY_STATS[k][i] for k in ("high", "low", "zeff")), ()) for i in (0, 1))
XRAY_STATS["hlz_log"] = tuple(sum((XRAY_STATS[k][i] for k in ("high_log", "low_log", "zeff")), ())
                              for i in (0, 1))


# a scan holds 1–3 items, not COCO's dozens: fewer proposals and sampled RoIs (torchvision's 512 per
# image) cut a CPU training step about 3× at no cost in recall
XRAY_DETECTOR_SETTINGS = {
    "rpn_pre_nms_top_n_train": 600, "rpn_post_nms_top_n_train": 300,
    "rpn_pre_nms_top_n_test": 300, "rpn_post_nms_top_n_test": 100,
    "rpn_batch_size_per_image": 128, "box_batch_size_per_image": 64, "box_detections_per_img": 20,
}


def modality_stats(modality: str) -> tuple[list[float], list[float]]:
    """Mean and std per channel of a modality spec such as ``pseudo+hlz``."""
    names = parse_modality(modality)
    return ([m for n in names for m in XRAY_STATS[n][0]], [s for n in names for s in XRAY_STATS[n][1]])


# Mask R-CNN's class-specific predictors: a checkpoint for other classes (torchvision's COCO one, 91)
# leaves them to a fresh initialisation for {background, item}
CLASS_PREDICTORS = ("roi_heads.box_predictor.", "roi_heads.mask_predictor.mask_fcn_logits.")


def build_detector(*, modality: str = "pseudo", min_size: int = 512, max_size: int = 1024,
                   weights: str | os.PathLike | None = None) -> nn.Module:
    """``maskrcnn_resnet50_fpn_v2`` with classes {background, item}, nothing downloaded, the first
    conv adapted to the modality's channels, X-ray normalisation, proposal and RoI budgets sized for
    a few items per scan, and images resized so their short side is ``min_size`` (set it to the
    scans' size to keep them as they are). ``weights`` is a local file: the detector's own state
    dict, or torchvision's (the COCO checkpoint of ``maskrcnn_resnet50_fpn_v2``), whose first
    convolution is adapted (models.weight_files) and whose class-specific predictors start afresh."""
    mean, std = modality_stats(modality)
    detector = maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=2,
                                        min_size=min_size, max_size=max_size, image_mean=mean, image_std=std,
                                        **XRAY_DETECTOR_SETTINGS)
    adapt_first_conv(detector.backbone.body, len(mean))
    if weights is not None:
        load_fitted(detector, load_state_dict(weights), os.fspath(weights),
                    f"Mask R-CNN detector for {modality!r}", reinit=CLASS_PREDICTORS)
    return detector


@dataclass
class ObjectOutput:
    """Items of a batch as segments (background included, not scored) and the items' logits."""

    segments: Segments
    scored: torch.Tensor  # (S,) bool: segments that are items
    logits: torch.Tensor  # (n_scored, 2)
    detection_scores: torch.Tensor | None = None  # (n_scored,) when the items were detected

    @property
    def probs(self) -> torch.Tensor:
        """(n_scored,) anomaly probability of every item."""
        return torch.softmax(self.logits.float(), 1)[:, ANOMALY]


class ObjectModel(nn.Module):
    """Mask R-CNN items, each item's masked crop classified {benign, anomaly} (the paper's Table I)."""

    def __init__(self, *, modality: str = "pseudo", backbone: str = "resnet18", crop_size: int = 128,
                 min_size: int = 512, max_size: int = 1024, score_threshold: float = 0.5,
                 mask_threshold: float = 0.5, class_balance: bool = True,
                 detector_weights: str | os.PathLike | None = None,
                 weights: str | os.PathLike | None = None):
        super().__init__()
        self.modality = modality
        self.crop_size, self.class_balance = crop_size, class_balance
        self.score_threshold, self.mask_threshold = score_threshold, mask_threshold
        self.detector = build_detector(modality=modality, min_size=min_size, max_size=max_size,
                                       weights=detector_weights)
        self.channels = len(modality_stats(modality)[0])
        self.backbone = build_backbone(backbone, in_channels=self.channels, num_classes=2, weights=weights)

    def classify(self, images: torch.Tensor, objects: torch.Tensor,
                 detection_scores: torch.Tensor | None = None) -> ObjectOutput:
        """Logits of every item of (B, H, W) instance maps."""
        check_channels(images, self.channels, self.modality)
        segments, ids = instances_as_segments(objects)
        scored = ids > 0
        if not bool(scored.any()):
            return ObjectOutput(segments, scored, images.new_zeros(0, 2), detection_scores)
        crops = masked_crops(images, segments, self.crop_size, keep=scored, fill=modality_air(self.modality))
        return ObjectOutput(segments, scored, self.backbone(crops), detection_scores)

    def loss(self, images: torch.Tensor, objects: torch.Tensor,
             object_anomalous: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Detector losses on the ground-truth items plus the classifier's weighted cross-entropy on
        their crops; ``total`` sums them. Call in train mode."""
        check_channels(images, self.channels, self.modality)
        targets = [detection_targets(one) for one in objects]
        losses = dict(self.detector(list(images), targets))
        out = self.classify(images, objects)
        _, ids = instances_as_segments(objects)
        labels = torch.cat([flags.to(images.device).long()[ids_b[ids_b > 0] - 1] for flags, ids_b
                            in zip(object_anomalous, out.segments.per_image(ids), strict=True)])
        if labels.numel():
            weight = balanced_class_weights(labels) if self.class_balance else None
            losses["loss_anomaly"] = F.cross_entropy(out.logits.float(), labels, weight=weight)
        losses["total"] = sum(losses.values())
        return losses

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> ObjectOutput:
        """Detect items (scores ≥ score_threshold) and classify each one's masked crop."""
        check_channels(images, self.channels, self.modality)
        detections = self.detector(list(images))
        maps, kept_scores = [], []
        for det in detections:
            maps.append(instance_map(det["masks"], det["scores"], tuple(images.shape[-2:]),
                                     self.score_threshold, self.mask_threshold))
            kept_scores.append(det["scores"][det["scores"] >= self.score_threshold])
        objects = torch.stack(maps)
        out = self.classify(images, objects)
        # an item id whose mask lost every pixel to overlapping detections has no segment
        _, ids = instances_as_segments(objects)
        present = torch.cat([scores[ids_b[ids_b > 0] - 1] for scores, ids_b
                             in zip(kept_scores, out.segments.per_image(ids), strict=True)])
        out.detection_scores = present
        return out
