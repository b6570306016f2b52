"""Training one configuration in plain PyTorch: epochs, three-level evaluation, checkpoints."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch
from torch import nn

from models.metrics import binary_metrics, threshold_for_fp_pct
from study.config import LEVELS, METRICS, ObjectiveConfig, StudyConfig, TrainingConfig
from study.data import SplitData, StudyData, load_study_data
from study.pipelines import PIPELINES, LevelScores, Trial

# every epoch reports exactly these names (undefined values as NaN; "objective" always finite)
METRIC_NAMES = ("epoch", "train_loss", "threshold", "objective",
                *(f"{level}_{m}" for level in LEVELS for m in METRICS))
# what "objective" is when its metric is undefined: the worst value for the mode
WORST = {"max": 0.0, "min": 1e6}


@dataclass
class TrainState:
    """What a checkpoint holds: model, optimiser and the number of finished epochs."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    epoch: int = 0
    data: dict | None = None  # split sizes, for the model card


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def trial_from_config(study: StudyConfig, choices: dict) -> Trial:
    """A Trial from one point of the search space (``choices``) and the study's shared settings."""
    return Trial(image_size=study.data.image_size, crop_size=study.training.crop_size,
                 anomaly_fraction=study.training.anomaly_fraction, weights=study.training.weights,
                 epochs=study.space.epochs, **choices)


def build_optimizer(trial: Trial, training: TrainingConfig, params) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if trial.optimizer == "sgd":
        return torch.optim.SGD(params, lr=trial.lr, momentum=training.momentum,
                               weight_decay=training.weight_decay)
    if trial.optimizer == "adam":
        return torch.optim.Adam(params, lr=trial.lr, weight_decay=training.weight_decay)
    raise ValueError(f"unknown optimizer {trial.optimizer!r}; valid: sgd, adam")


def autocast_for(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA (SSN clustering stays fp32 inside), nothing on CPU."""
    if device.type == "cuda" and enabled:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


@torch.no_grad()
def score_split(trial: Trial, model: nn.Module, split: SplitData, device: torch.device,
                amp: bool) -> LevelScores:
    """Scores and labels of a whole split at segment, object and scan level."""
    pipeline = PIPELINES[trial.pipeline]
    model.eval()
    scores = LevelScores()
    for start in range(0, len(split), trial.batch_size):
        with autocast_for(device, amp):
            pipeline.score(model, split.batch(slice(start, start + trial.batch_size), device), scores)
    return scores


def epoch_metrics(test: LevelScores, threshold_scores: LevelScores | None,
                  objective: ObjectiveConfig) -> dict[str, float]:
    """Metrics at every level on the test split; with ``fp_target``, at the threshold that keeps the
    objective level's FP% at or below it on the threshold split, else at 0.5."""
    threshold = 0.5
    if objective.fp_target is not None and threshold_scores is not None:
        level = objective.metric.split("_", 1)[0]
        labels, scores = threshold_scores.arrays(level)
        if (~labels).any():
            threshold = threshold_for_fp_pct(labels, scores, objective.fp_target)
    out: dict[str, float] = {"threshold": float(threshold)}
    for level in LEVELS:
        labels, scores = test.arrays(level)
        values = binary_metrics(labels, scores, threshold)
        for name in METRICS:
            value = getattr(values, name)
            out[f"{level}_{name}"] = float("nan") if value is None else float(value)
    value = out[objective.metric]
    out["objective"] = WORST[objective.mode] if math.isnan(value) else value
    return out


def train(study: StudyConfig, trial: Trial, on_epoch: Callable[[dict, TrainState], None],
          resume: str | None = None, data: StudyData | None = None) -> dict:
    """Train ``trial`` for its epochs, evaluating after each; ``on_epoch(metrics, state)`` reports
    and checkpoints. ``resume`` is a checkpoint directory to continue from."""
    device = pick_device()
    torch.manual_seed(study.training.seed)
    data = data or load_study_data(study.data, trial.modality)
    pipeline = PIPELINES[trial.pipeline]
    model = pipeline.build(trial).to(device)
    state = TrainState(model, build_optimizer(trial, study.training, model.parameters()),
                       data={"n_train": len(data.train), "n_test": len(data.test),
                             "threshold_split": data.threshold_split})
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
        test = score_split(trial, model, data.test, device, amp)
        threshold = (score_split(trial, model, data.threshold, device, amp)
                     if study.objective.fp_target is not None else None)
        metrics = {"epoch": state.epoch, "train_loss": total / max(batches, 1),
                   **epoch_metrics(test, threshold, study.objective)}
        on_epoch(metrics, state)
    return metrics


def save_checkpoint(directory: str, state: TrainState, study: StudyConfig, trial: Trial,
                    metrics: dict) -> None:
    """model.pt and optimizer.pt (state dicts, loadable with weights_only=True), state.json, and
    config.json (the resolved study config and trial), metrics.json."""
    os.makedirs(directory, exist_ok=True)
    torch.save(state.model.state_dict(), os.path.join(directory, "model.pt"))
    torch.save(state.optimizer.state_dict(), os.path.join(directory, "optimizer.pt"))
    files = {"state.json": {"epoch": state.epoch},
             "config.json": {"study": json.loads(study.to_json()), "trial": asdict(trial),
                             "data": state.data or {}},
             "metrics.json": metrics}
    for name, content in files.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2, sort_keys=True, default=float)


def load_checkpoint(directory: str, state: TrainState) -> None:
    """Restore model, optimiser and epoch from a checkpoint directory."""
    kwargs = {"map_location": next(state.model.parameters()).device, "weights_only": True}
    state.model.load_state_dict(torch.load(os.path.join(directory, "model.pt"), **kwargs))
    state.optimizer.load_state_dict(torch.load(os.path.join(directory, "optimizer.pt"), **kwargs))
    with open(os.path.join(directory, "state.json"), encoding="utf-8") as f:
        state.epoch = int(json.load(f)["epoch"])
