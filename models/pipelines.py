"""The pipelines as models: how each is built from its spec and how it scores scans. Whole-scan
pipelines (``ssn``, ``maskrcnn``) score a batch resized to the spec's image size; item-first ones
(``subcomponent``, ``object``) find each scan's items at native pitch and score each item."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from models.inputs import autocast_for
from models.items.object_model import ItemObjectModel
from models.items.scan import score_scan
from models.maskrcnn import ObjectModel
from models.predictions import ScanPrediction, prediction_of
from models.segments import Segments
from models.spec import ModelSpec
from models.subcomponent import SubcomponentModel
from models.subcomponent.items import ItemSubcomponentModel
from scans.modalities import modality_channels

if TYPE_CHECKING:
    from models.trained import TrainedModel


@dataclass
class Prediction:
    """A batch's segments, every segment's anomaly score and which segments are scored (SSN scores
    every superpixel; Mask R-CNN scores its items, not the background)."""

    segments: Segments
    scores: torch.Tensor  # (S,) float, 0 where not scored
    scored: torch.Tensor  # (S,) bool


class WholeScanPipeline(ABC):
    """Scans resized to the spec's ``image_size``, scored a batch at a time."""

    item_first = False
    default_optimizer = "sgd"  # the paper's, when the space names none

    @abstractmethod
    def predict(self, model: nn.Module, images: torch.Tensor) -> Prediction:
        """Every segment of the batch, and its score."""

    def predict_scans(self, trained: TrainedModel, images: np.ndarray) -> list[ScanPrediction]:
        """Segments and scores of a (B, C, S, S) float32 batch at the model's image size."""
        batch = torch.from_numpy(np.ascontiguousarray(images)).to(trained.device)
        with autocast_for(trained.device, trained.amp):
            pred = self.predict(trained.model, batch)
        segments = pred.segments
        labels = segments.local_labels().cpu().numpy().astype(np.int32)
        columns = (pred.scores.float(), pred.scored, segments.area, segments.boxes.float(),
                   segments.centroid.float())
        per_image = [[t.numpy() for t in segments.per_image(values.cpu())] for values in columns]
        return [ScanPrediction(lab, scores.astype(np.float32), scored.astype(bool), area, boxes, centroid)
                for lab, scores, scored, area, boxes, centroid in zip(labels, *per_image, strict=True)]


class SSNPipeline(WholeScanPipeline):
    """Whole scans: SSN superpixels of the scan classified by a backbone."""

    superpixels = True

    def build(self, spec: ModelSpec) -> nn.Module:
        return SubcomponentModel(modality=spec.modality, backbone=spec.backbone, mode=spec.mode,
                                 ssn_feature=spec.ssn_feature, n_superpixels=spec.k,
                                 compactness=spec.lam, crop_size=spec.crop_size,
                                 crops_per_image=spec.crops_per_image,
                                 anomaly_fraction=spec.anomaly_fraction, weights=spec.weights)

    def predict(self, model: SubcomponentModel, images: torch.Tensor) -> Prediction:
        out = model(images)
        return Prediction(out.segments, out.probs.float(), torch.ones_like(out.probs, dtype=torch.bool))


class MaskRCNNPipeline(WholeScanPipeline):
    """Whole scans: Mask R-CNN items classified by a backbone."""

    superpixels = False

    def build(self, spec: ModelSpec) -> nn.Module:
        return ObjectModel(modality=spec.modality, backbone=spec.backbone, crop_size=spec.crop_size,
                           min_size=spec.image_size, max_size=spec.image_size, weights=spec.weights)

    def predict(self, model: ObjectModel, images: torch.Tensor) -> Prediction:
        out = model(images)
        all_scores = torch.zeros(out.segments.n, device=images.device)
        all_scores[out.scored] = out.probs.to(all_scores.device)  # background: no alarm
        return Prediction(out.segments, all_scores, out.scored)


class ItemFirstPipeline:
    """Each scan at its own size: the item stage's finder finds the items, the model scores each."""

    item_first = True
    default_optimizer = "adamw"  # the item recipe's, when the space names none

    def predict_scans(self, trained: TrainedModel, images: list[np.ndarray]) -> list[ScanPrediction]:
        """Segments and scores of each C×H×W scan (the model's channels, then the finder's when its
        modality differs). A segment is flagged when its item is (item score ≥ threshold) and it is
        one of the item's strongest; the scan's score is its highest item score."""
        return [self._predict_scan(trained, np.asarray(image, np.float32)) for image in images]

    def _predict_scan(self, trained: TrainedModel, image: np.ndarray) -> ScanPrediction:
        channels = modality_channels(trained.modality)
        x = torch.from_numpy(np.ascontiguousarray(image[:channels]))
        separate = image.shape[0] > channels
        finder_x = torch.from_numpy(np.ascontiguousarray(image[channels:])) if separate else x
        with autocast_for(trained.device, trained.amp):
            result = score_scan(trained.finder, trained.model, x, finder_x, trained.item_score)
        n = len(result.segment_scores)
        scores = np.concatenate([[0.0], result.segment_scores])  # segment 0: what no item covers
        item_scores = trained.calibrated(result.item_scores)  # probabilities, when val fitted a map
        item_flag = item_scores >= trained.threshold
        item_max = np.zeros(len(result.item_scores), np.float32)
        np.maximum.at(item_max, result.segment_item, result.segment_scores)
        strong = result.segment_scores >= np.minimum(trained.raw_threshold,  # superpixels: raw probabilities
                                                     item_max[result.segment_item])
        flagged = np.concatenate([[False], item_flag[result.segment_item] & strong])
        scan_score = float(item_scores.max()) if len(item_scores) else 0.0
        return prediction_of(result.labels, scores, np.arange(n + 1) > 0, flagged, scan_score,
                             result.item_boxes, item_scores, result.item_masks,
                             item_detection=result.item_detection, item_classes=result.item_classes,
                             segment_item=np.concatenate([[-1], result.segment_item]).astype(np.int64),
                             score_rule="highest item score (" + (f"each item by rule {trained.item_score}"
                                                                  if self.superpixels else
                                                                  "each item classified whole") + (
                                 f", {trained.calibration.method}-calibrated on val"
                                 if trained.calibration is not None else "") + ")")


class ItemSubcomponentPipeline(ItemFirstPipeline):
    """The paper's sub-component pipeline on found items: SSN superpixels of each item crop at
    native pitch (K per item), each classified; an item scores by a rule chosen on val."""

    superpixels = True

    def build(self, spec: ModelSpec) -> nn.Module:
        return ItemSubcomponentModel(modality=spec.modality, backbone=spec.backbone, mode=spec.mode,
                                     ssn_feature=spec.ssn_feature, n_superpixels=spec.k,
                                     compactness=spec.lam, anomaly_fraction=spec.anomaly_fraction,
                                     crop_size=spec.crop_size, crops_per_image=spec.crops_per_image,
                                     weights=spec.weights, item_input=spec.item_input,
                                     small_anomalies=spec.small_anomalies, item_head=spec.item_head,
                                     test_views=spec.test_views, overview=spec.overview,
                                     class_context=spec.class_context)


class ItemObjectPipeline(ItemFirstPipeline):
    """The object-level baseline on the same found items: each item crop as the spec's item input
    shows it, squared and resized to ``crop_size``², classified whole."""

    superpixels = False

    def build(self, spec: ModelSpec) -> nn.Module:
        return ItemObjectModel(modality=spec.modality, backbone=spec.backbone, input_size=spec.crop_size,
                               weights=spec.weights, item_input=spec.item_input)


# what models.catalog's PIPELINES names
SUBCOMPONENT = ItemSubcomponentPipeline()
OBJECT = ItemObjectPipeline()
SSN = SSNPipeline()
MASKRCNN = MaskRCNNPipeline()
