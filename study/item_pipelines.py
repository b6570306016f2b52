"""The item-first pipelines: how each is built from a trial, trained on item sets and scored."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from models.items.object_model import ItemObjectModel
from models.subcomponent.items import ItemSubcomponentModel
from study.item_data import ItemSet
from study.item_eval import ItemScores, score_items, score_objects
from study.item_train import Recipe, StepLog, train_item_model, train_object_model


class SubcomponentPipeline:
    """The paper's sub-component pipeline on found items: SSN superpixels of each item crop at
    native pitch (K per item), each classified; an item scores by a rule chosen on val."""

    item_first = True
    superpixels = True

    def build(self, trial) -> nn.Module:
        return ItemSubcomponentModel(modality=trial.modality, backbone=trial.backbone, mode=trial.mode,
                                     ssn_feature=trial.ssn_feature, n_superpixels=trial.k,
                                     compactness=trial.lam, anomaly_fraction=trial.anomaly_fraction,
                                     crop_size=trial.crop_size, crops_per_image=trial.crops_per_image,
                                     weights=trial.weights, item_input=trial.item_input,
                                     small_anomalies=trial.small_anomalies, item_head=trial.item_head,
                                     test_views=trial.test_views)

    def fit(self, model: nn.Module, train: ItemSet, recipe: Recipe, device: torch.device,
            on_eval: Callable[[int, StepLog], None], **resume) -> None:
        train_item_model(model, train, recipe, device, on_eval, **resume)

    def score(self, model: nn.Module, items: ItemSet, device: torch.device) -> ItemScores:
        return score_items(model, items, device)


class ObjectPipeline:
    """The object-level baseline on the same found items: each item crop as the recipe's item input
    shows it, squared and resized to ``crop_size``², classified whole by the same backbones and budget."""

    item_first = True
    superpixels = False

    def build(self, trial) -> nn.Module:
        return ItemObjectModel(modality=trial.modality, backbone=trial.backbone, input_size=trial.crop_size,
                               weights=trial.weights, item_input=trial.item_input)

    def fit(self, model: nn.Module, train: ItemSet, recipe: Recipe, device: torch.device,
            on_eval: Callable[[int, StepLog], None], **resume) -> None:
        train_object_model(model, train, recipe, device, on_eval, **resume)

    def score(self, model: nn.Module, items: ItemSet, device: torch.device) -> ItemScores:
        return score_objects(model, items, device)
