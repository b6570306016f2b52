"""The Tune function trainable: one trial = plain training, reporting and checkpointing each epoch."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable

import torch
from ray import tune

from study.config import StudyConfig, parse_config
from study.pipelines import PIPELINES
from study.shared_data import trial_data
from study.train import TrainState, save_checkpoint, trial_from_config
from study.trial import train_trial

# called after each epoch's report and checkpoint: (the trial's point, the epoch, the model's device)
EpochHook = Callable[[dict, int, torch.device], None]


def run_trial(config: dict, study: dict, shared: dict | None = None, after_epoch: EpochHook | None = None
              ) -> None:
    """Train ``config["point"]`` of the study on its training set (from the object store by
    ``shared``'s references, else the node's cache); resumes from Tune's checkpoint when retried.
    ``after_epoch`` runs after each epoch's checkpoint is reported."""
    resolved = parse_config(study, "study config")
    trial = trial_from_config(resolved, config["point"])
    data = trial_data(shared, PIPELINES[trial.pipeline].item_first, trial.modality)
    torch.set_num_threads(resolved.training.torch_threads or max(1, int(resolved.resources.cpu)))

    label = f"{trial.pipeline} · {trial.backbone} · {trial.modality} · K {trial.k} · lr {trial.lr:g}"

    def report(metrics: dict, state: TrainState) -> None:
        # one line per epoch in the trial's output: `ray job logs` shows it (the driver joins with
        # log_to_driver on a cluster)
        loss, objective = metrics.get("train_loss", math.nan), metrics.get("objective", math.nan)
        print(f"{label}: epoch {metrics.get('epoch')}, train loss {loss:.4f}, val objective {objective:.4f}",
              flush=True)
        with tempfile.TemporaryDirectory() as directory:
            save_checkpoint(directory, state, resolved, trial, metrics)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
        if after_epoch is not None:
            after_epoch(config["point"], state.epoch, next(state.model.parameters()).device)

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        train_trial(resolved, trial, report, data=data)
    else:
        with checkpoint.as_directory() as directory:
            train_trial(resolved, trial, report, resume=directory, data=data)


def trainable(config: StudyConfig, shared: dict | None = None, after_epoch: EpochHook | None = None):
    """run_trial bound to the resolved study config, the references of the training data in the
    object store (``shared``, see study.shared_data) and ``after_epoch``, with the trial resources
    of the config."""
    bound = tune.with_parameters(run_trial, study=config.model_dump(mode="json"), shared=shared or {},
                                 after_epoch=after_epoch)
    return tune.with_resources(bound, {"cpu": config.resources.cpu, "gpu": config.resources.gpu})
