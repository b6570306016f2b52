"""The pipelines as the study trains them: each model pipeline (models.pipelines: build, predict)
with its loss or fitting and its scoring on labelled data; the item-first ones in study.items.pipelines."""

from __future__ import annotations

import numpy as np
import torch

from models.maskrcnn import ObjectModel
from models.pipelines import MaskRCNNPipeline as MaskRCNNModelPipeline
from models.pipelines import SSNPipeline as SSNModelPipeline
from models.scores import item_overlap, object_scores, scan_scores
from models.segments import Segments
from models.subcomponent import SubcomponentModel
from models.subcomponent.model import IGNORE, superpixel_targets
from scans.registry import Registry
from study.data import Batch
from study.evaluation import LevelScores
from study.items.pipelines import ObjectPipeline, SubcomponentPipeline


def _item_and_scan_levels(scores: LevelScores, all_scores: torch.Tensor, segments: Segments,
                          batch: Batch) -> None:
    flags = batch.anomalous_flags()
    per_item = object_scores(all_scores, segments, batch.objects, batch.n_objects)
    tags = zip(per_item, flags, batch.anomaly_kinds(), batch.item_classes(), batch.item_models(), strict=True)
    for image, (item_scores, item_flags, kinds, classes, models) in enumerate(tags):
        # an item resized away has no pixel left; every other item counts, a NaN score included
        pixels = torch.bincount(batch.objects[image].reshape(-1).long(), minlength=len(item_flags) + 1)
        present = pixels[1:len(item_flags) + 1] > 0
        kept = present.cpu().numpy()
        scores.add("object", item_flags[present], item_scores[present], kinds[kept],
                   np.zeros(int(present.sum()), np.int64),  # one scan: its items resample together
                   classes=classes[kept], models=models[kept])
    scores.add("scan", torch.stack([f.any() for f in flags]), scan_scores(all_scores, segments))


class SSNPipeline(SSNModelPipeline):
    """Whole scans resized to ``image_size``: SSN superpixels of the scan classified by a backbone."""

    def loss(self, model: SubcomponentModel, batch: Batch) -> torch.Tensor:
        return model.loss(model(batch.images, anomaly=batch.anomaly), batch.parts, batch.anomaly).total

    def score(self, model: SubcomponentModel, batch: Batch, scores: LevelScores) -> None:
        pred = self.predict(model, batch.images)
        targets = superpixel_targets(pred.segments, batch.anomaly, model.anomaly_fraction)
        judged = targets != IGNORE  # a superpixel partly on an anomaly is neither right nor wrong
        scores.add("segment", targets[judged] == 1, pred.scores[judged],
                   scans=pred.segments.image_index[judged])
        _item_and_scan_levels(scores, pred.scores, pred.segments, batch)


class MaskRCNNPipeline(MaskRCNNModelPipeline):
    """Whole scans resized to ``image_size``: Mask R-CNN items classified by a backbone."""

    def loss(self, model: ObjectModel, batch: Batch) -> torch.Tensor:
        return model.loss(batch.images, batch.objects, batch.anomalous_flags())["total"]

    def score(self, model: ObjectModel, batch: Batch, scores: LevelScores) -> None:
        pred = self.predict(model, batch.images)
        # a detection is anomalous when the ground-truth item most of it covers holds an anomaly
        item = item_overlap(pred.segments, batch.objects, batch.n_objects).argmax(1)[pred.scored]
        truth = torch.cat([batch.object_anomalous.new_zeros(1), *batch.anomalous_flags()])  # 0: background
        scores.add("segment", truth[item], pred.scores[pred.scored],
                   scans=pred.segments.image_index[pred.scored])
        _item_and_scan_levels(scores, pred.scores, pred.segments, batch)


Pipeline = SSNPipeline | MaskRCNNPipeline | SubcomponentPipeline | ObjectPipeline
PIPELINES: Registry[Pipeline] = Registry("pipeline")
PIPELINES.add("subcomponent", SubcomponentPipeline())
PIPELINES.add("object", ObjectPipeline())
PIPELINES.add("ssn", SSNPipeline())
PIPELINES.add("maskrcnn", MaskRCNNPipeline())
