"""One trial of any pipeline: item-first ones by the recipe (study.items.trial), whole-scan ones by
epochs (study.train)."""

from __future__ import annotations

from collections.abc import Callable

from models.spec import ModelSpec
from study.config import StudyConfig
from study.items.trial import train_item_trial
from study.pipelines import PIPELINES
from study.train import TrainState, train

# called after each val pass with its metrics and the state a checkpoint saves
OnEpoch = Callable[[dict, TrainState], None]


def train_trial(study: StudyConfig, trial: ModelSpec, on_epoch: OnEpoch, resume: str | None = None,
                data=None) -> dict:
    """Train any trial: item-first pipelines by the recipe, whole-scan ones by epochs; ``data``
    its training set when given (ItemStudyData or StudyData), else loaded from the node's cache."""
    if PIPELINES[trial.pipeline].item_first:
        return train_item_trial(study, trial, on_epoch, resume, data=data)
    return train(study, trial, on_epoch, resume, data=data)
