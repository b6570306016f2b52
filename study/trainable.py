"""The Tune function trainable: one trial = plain training, reporting and checkpointing each epoch."""

from __future__ import annotations

import os
import tempfile

import torch
from ray import tune

from study.config import StudyConfig, parse_config
from study.train import TrainState, save_checkpoint, train, trial_from_config


class InjectedFaultError(RuntimeError):
    """Raised once by ``fault`` settings, to test recovery from checkpoints."""


def _maybe_crash(study: StudyConfig, epoch: int) -> None:
    fault = study.fault
    if fault is not None and epoch == fault.epoch and not os.path.exists(fault.marker):
        with open(fault.marker, "w", encoding="utf-8") as f:
            f.write("crashed once\n")
        raise InjectedFaultError(f"injected fault after epoch {epoch} (marker {fault.marker})")


def run_trial(config: dict, study: dict) -> None:
    """Train ``config["point"]`` of the study; resumes from Tune's checkpoint when retried."""
    resolved = parse_config(study, "study config")
    trial = trial_from_config(resolved, config["point"])
    torch.set_num_threads(resolved.training.torch_threads or max(1, int(resolved.resources.cpu)))

    def report(metrics: dict, state: TrainState) -> None:
        with tempfile.TemporaryDirectory() as directory:
            save_checkpoint(directory, state, resolved, trial, metrics)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
        _maybe_crash(resolved, state.epoch)

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        train(resolved, trial, report)
    else:
        with checkpoint.as_directory() as directory:
            train(resolved, trial, report, resume=directory)


def trainable(config: StudyConfig):
    """run_trial bound to the resolved study config, with the trial resources of the config."""
    bound = tune.with_parameters(run_trial, study=config.model_dump(mode="json"))
    return tune.with_resources(bound, {"cpu": config.resources.cpu, "gpu": config.resources.gpu})
