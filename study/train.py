"""Training one configuration in plain PyTorch: epochs, three-level evaluation, checkpoints."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from models.inputs import autocast_for
from models.items.stage import stage_classes
from models.knobs import default_optimizer
from models.metrics import LEVELS
from models.model_dir import PROGRESS_FILE, ModelDirectory
from models.spec import ModelSpec
from study.config import StudyConfig
from study.data import SplitData, StudyData, load_study_data
from study.evaluation import METRICS, SPLITS, LevelScores, epoch_metrics, read_scores_npz, scores_npz
from study.pipelines import PIPELINES
from study.recipes import make_optimizer, recipe_run

# every epoch reports exactly these names (undefined values as NaN; "objective" always finite):
# the val-chosen threshold, the val objective, and every metric on val and on test at the threshold
METRIC_NAMES = ("epoch", "train_loss", "threshold", "objective",
                *(f"{split}_{level}_{m}" for split in SPLITS for level in LEVELS for m in METRICS))


@dataclass
class TrainState:
    """What a checkpoint holds: model, optimiser and the number of finished epochs."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    epoch: int = 0
    data: dict | None = None  # split sizes and pitches, for the model card
    scores: dict[str, LevelScores] | None = None  # this epoch's val and test scores
    schedule: dict | None = None  # the learning-rate schedule's state, when the recipe has one
    run: dict | None = None  # the recipe as it runs (study.recipes.recipe_run), for config.json
    calibration: dict | None = None  # item-first: the item-score calibration val fitted, for metrics.json


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def trial_from_config(study: StudyConfig, choices: dict) -> ModelSpec:
    """A model spec from one point of the search space (``choices``; without an optimizer, the
    pipeline's own) and the study's shared settings."""
    item_first = PIPELINES[choices["pipeline"]].item_first
    choices = {"optimizer": default_optimizer(choices["pipeline"]), **choices}
    recipe = study.recipe
    item = ({"item_input": recipe.item_input, "small_anomalies": recipe.small_anomalies,
             "item_head": recipe.head_holdout > 0} if item_first else {})
    if choices["pipeline"] == "subcomponent" and choices.get("mode", "pool") == "pool":
        item["test_views"] = recipe.test_views  # the views of the pool mode's dense features
        item["overview"] = recipe.overview  # the whole item in view, modulating those features
        if recipe.class_context:  # the classes the item stage names, modulating them too
            item["class_context"] = _stage_classes(study)
    return ModelSpec(image_size=study.data.image_size, crop_size=study.training.crop_size,
                 crops_per_image=study.training.crops_per_image,
                 weights=study.training.weights_for(choices["backbone"]),
                 epochs=study.recipe.evaluations if item_first else study.space.epochs, **item, **choices)


def _stage_classes(study: StudyConfig) -> tuple[str, ...]:
    if study.items.directory is None:
        raise ValueError("recipe.class_context: reads the classes the trained item stage names, and "
                         "items.directory is not set (train the item stage first)")
    classes = stage_classes(study.items.directory)
    if not classes:
        raise ValueError(f"recipe.class_context: the item stage in {study.items.directory} names no "
                         "classes (items.classes)")
    return classes


@torch.no_grad()
def score_split(trial: ModelSpec, model: nn.Module, split: SplitData, device: torch.device,
                amp: bool) -> LevelScores:
    """Scores and labels of a whole split at segment, object and scan level."""
    pipeline = PIPELINES[trial.pipeline]
    model.eval()
    scores = LevelScores()
    for start in range(0, len(split), trial.batch_size):
        with autocast_for(device, amp):
            pipeline.score(model, split.batch(slice(start, start + trial.batch_size), device), scores)
    return scores


def train(study: StudyConfig, trial: ModelSpec, on_epoch: Callable[[dict, TrainState], None],
          resume: str | None = None, data: StudyData | None = None) -> dict:
    """Train ``trial`` for its epochs, evaluating after each; ``on_epoch(metrics, state)`` reports
    and checkpoints. ``resume`` is a checkpoint directory to continue from."""
    device = pick_device()
    torch.manual_seed(study.training.seed)
    data = data or load_study_data(study.data, trial.modality)
    pipeline = PIPELINES[trial.pipeline]
    model = pipeline.build(trial).to(device)
    training = study.training
    state = TrainState(model, make_optimizer(trial.optimizer, model.parameters(), trial.lr, training.momentum,
                                             training.weight_decay),
                       data=data.summary(), run=recipe_run(study, trial, device))
    if resume is not None:
        load_checkpoint(resume, state)
    amp = study.training.amp
    metrics: dict = {}
    for epoch in range(state.epoch, trial.epochs):
        model.train()
        order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(
            study.training.seed * 1000 + epoch))
        total, batches = 0.0, 0
        for start in range(0, len(order), trial.batch_size):
            batch = data.train.batch(order[start:start + trial.batch_size], device)
            with autocast_for(device, amp):
                loss = pipeline.loss(model, batch)
            state.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            state.optimizer.step()
            total, batches = total + loss.item(), batches + 1
        state.epoch = epoch + 1
        state.scores = {"val": score_split(trial, model, data.val, device, amp),
                        "test": score_split(trial, model, data.test, device, amp)}
        objective = study.objective
        metrics = {"epoch": state.epoch, "train_loss": total / max(batches, 1),
                   **epoch_metrics(state.scores["val"], state.scores["test"], objective.metric,
                                   objective.mode, objective.fp_target)}
        on_epoch(metrics, state)
    return metrics


def save_checkpoint(directory: str, state: TrainState, study: StudyConfig, trial: ModelSpec,
                    metrics: dict) -> None:
    """A checkpoint (a local path or URI), every file through its ModelDirectory: the model
    (weights; config.json: the resolved study config, the trial and the recipe it ran;
    metrics.json), the epoch's val and test scores (from which the report takes test intervals and
    per-kind figures), and what resumes it (optimiser and schedule states, the epoch: last)."""
    checkpoint = ModelDirectory(directory)
    if state.calibration is not None:
        metrics = {**metrics, "calibration": state.calibration}
    checkpoint.write_model(state.model.state_dict(), trial, json.loads(study.to_json()), state.data, metrics,
                           state.run)
    if state.scores is not None:
        checkpoint.write_scores(scores_npz(state.scores))
    checkpoint.write_resume({"epoch": state.epoch}, state.optimizer.state_dict(), state.schedule)


def load_checkpoint(directory: str, state: TrainState, schedule=None) -> None:
    """Restore model, optimiser, epoch and the scores it kept from a checkpoint directory (a local
    path or URI), and ``schedule`` (an LR scheduler) when the checkpoint kept its state."""
    checkpoint = ModelDirectory(directory)
    progress = checkpoint.progress()
    if progress is None:
        raise FileNotFoundError(f"{directory}: not a whole checkpoint (no {PROGRESS_FILE})")
    state.model.load_state_dict(checkpoint.state_dict())
    state.optimizer.load_state_dict(checkpoint.optimizer_state())
    kept = checkpoint.schedule_state()
    if schedule is not None and kept is not None:
        schedule.load_state_dict(kept)
    scores = checkpoint.scores_data()
    state.scores = None if scores is None else read_scores_npz(scores)
    state.epoch = int(progress["epoch"])
