"""Pipelines registry: the item-first pipelines (``subcomponent``, ``object``: study.item_pipelines)
and the whole-scan ones (``ssn``, ``maskrcnn``): how each is built, trained and scored."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.maskrcnn import ObjectModel
from models.scores import item_overlap, object_scores, scan_scores
from models.segments import Segments
from models.subcomponent import SubcomponentModel
from models.subcomponent.model import IGNORE, superpixel_targets
from scans.registry import Registry
from study.data import Batch
from study.evaluation import LevelScores
from study.item_pipelines import ObjectPipeline, SubcomponentPipeline


@dataclass(frozen=True)
class Trial:
    """One configuration of the search space, plus the settings every trial shares."""

    pipeline: str
    backbone: str
    modality: str
    k: int = 100
    lam: float = 1e-4
    ssn_feature: str = "pixel"
    mode: str = "pool"
    optimizer: str = "sgd"
    lr: float = 2e-4
    batch_size: int = 64
    epochs: int = 10
    image_size: int = 128
    crop_size: int = 64
    crops_per_image: int = 16
    anomaly_fraction: float = 0.5
    weights: str | None = None
    item_input: str = "masked"  # item-first pipelines: what the model sees of an item
    small_anomalies: bool = False  # the sub-component pipeline on items: small anomalies kept
    item_head: bool = False  # the sub-component pipeline on items: a learned item head
    test_views: int = 1  # the sub-component pipeline on items: dense features averaged over views


@dataclass
class Prediction:
    """A batch's segments, every segment's anomaly score and which segments are scored (SSN scores
    every superpixel; Mask R-CNN scores its items, not the background)."""

    segments: Segments
    scores: torch.Tensor  # (S,) float, 0 where not scored
    scored: torch.Tensor  # (S,) bool


def _item_and_scan_levels(scores: LevelScores, all_scores: torch.Tensor, segments: Segments,
                          batch: Batch) -> None:
    flags = batch.anomalous_flags()
    per_item = object_scores(all_scores, segments, batch.objects, batch.n_objects)
    for image, (item_scores, item_flags, kinds) in enumerate(zip(per_item, flags, batch.anomaly_kinds(),
                                                                 strict=True)):
        # an item resized away has no pixel left; every other item counts, a NaN score included
        pixels = torch.bincount(batch.objects[image].reshape(-1).long(), minlength=len(item_flags) + 1)
        present = pixels[1:len(item_flags) + 1] > 0
        scores.add("object", item_flags[present], item_scores[present], kinds[present.cpu().numpy()])
    scores.add("scan", torch.stack([f.any() for f in flags]), scan_scores(all_scores, segments))


class SSNPipeline:
    """Whole scans resized to ``image_size``: SSN superpixels of the scan classified by a backbone."""

    item_first = False
    superpixels = True

    def build(self, trial: Trial) -> nn.Module:
        return SubcomponentModel(modality=trial.modality, backbone=trial.backbone, mode=trial.mode,
                                 ssn_feature=trial.ssn_feature, n_superpixels=trial.k,
                                 compactness=trial.lam, crop_size=trial.crop_size,
                                 crops_per_image=trial.crops_per_image,
                                 anomaly_fraction=trial.anomaly_fraction, weights=trial.weights)

    def loss(self, model: SubcomponentModel, batch: Batch) -> torch.Tensor:
        return model.loss(model(batch.images, anomaly=batch.anomaly), batch.parts, batch.anomaly).total

    def predict(self, model: SubcomponentModel, images: torch.Tensor) -> Prediction:
        out = model(images)
        return Prediction(out.segments, out.probs.float(), torch.ones_like(out.probs, dtype=torch.bool))

    def score(self, model: SubcomponentModel, batch: Batch, scores: LevelScores) -> None:
        pred = self.predict(model, batch.images)
        targets = superpixel_targets(pred.segments, batch.anomaly, model.anomaly_fraction)
        judged = targets != IGNORE  # a superpixel partly on an anomaly is neither right nor wrong
        scores.add("segment", targets[judged] == 1, pred.scores[judged])
        _item_and_scan_levels(scores, pred.scores, pred.segments, batch)


class MaskRCNNPipeline:
    """Whole scans resized to ``image_size``: Mask R-CNN items classified by a backbone."""

    item_first = False
    superpixels = False

    def build(self, trial: Trial) -> nn.Module:
        return ObjectModel(modality=trial.modality, backbone=trial.backbone, crop_size=trial.crop_size,
                           min_size=trial.image_size, max_size=trial.image_size, weights=trial.weights)

    def loss(self, model: ObjectModel, batch: Batch) -> torch.Tensor:
        return model.loss(batch.images, batch.objects, batch.anomalous_flags())["total"]

    def predict(self, model: ObjectModel, images: torch.Tensor) -> Prediction:
        out = model(images)
        all_scores = torch.zeros(out.segments.n, device=images.device)
        all_scores[out.scored] = out.probs.to(all_scores.device)  # background: no alarm
        return Prediction(out.segments, all_scores, out.scored)

    def score(self, model: ObjectModel, batch: Batch, scores: LevelScores) -> None:
        pred = self.predict(model, batch.images)
        # a detection is anomalous when the ground-truth item most of it covers holds an anomaly
        item = item_overlap(pred.segments, batch.objects, batch.n_objects).argmax(1)[pred.scored]
        truth = torch.cat([batch.object_anomalous.new_zeros(1), *batch.anomalous_flags()])  # 0: background
        scores.add("segment", truth[item], pred.scores[pred.scored])
        _item_and_scan_levels(scores, pred.scores, pred.segments, batch)


Pipeline = SSNPipeline | MaskRCNNPipeline | SubcomponentPipeline | ObjectPipeline
PIPELINES: Registry[Pipeline] = Registry("pipeline")
PIPELINES.add("subcomponent", SubcomponentPipeline())
PIPELINES.add("object", ObjectPipeline())
PIPELINES.add("ssn", SSNPipeline())
PIPELINES.add("maskrcnn", MaskRCNNPipeline())
