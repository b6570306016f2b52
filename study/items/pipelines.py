"""The item-first pipelines as the study trains them: fitted on item sets, scored on labelled items."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from models.pipelines import ItemObjectPipeline, ItemSubcomponentPipeline
from study.items.data import ItemSet
from study.items.evaluation import ItemScores, score_items, score_objects
from study.items.train import Recipe, StepLog, train_item_model, train_object_model


class SubcomponentPipeline(ItemSubcomponentPipeline):
    """The sub-component pipeline on items, trained on tiles of item crops (study.items.train)."""

    def fit(self, model: nn.Module, train: ItemSet, recipe: Recipe, device: torch.device,
            on_eval: Callable[[int, StepLog], None], **resume) -> None:
        train_item_model(model, train, recipe, device, on_eval, **resume)

    def score(self, model: nn.Module, items: ItemSet, device: torch.device) -> ItemScores:
        return score_items(model, items, device)


class ObjectPipeline(ItemObjectPipeline):
    """The object-level baseline on items, trained on whole item crops."""

    def fit(self, model: nn.Module, train: ItemSet, recipe: Recipe, device: torch.device,
            on_eval: Callable[[int, StepLog], None], **resume) -> None:
        train_object_model(model, train, recipe, device, on_eval, **resume)

    def score(self, model: nn.Module, items: ItemSet, device: torch.device) -> ItemScores:
        return score_objects(model, items, device)
