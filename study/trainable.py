"""The Tune function trainable: one trial = plain training, reporting and checkpointing each epoch."""

from __future__ import annotations

import math
import os
import tempfile

import torch
from ray import tune

from study.config import StudyConfig, parse_config
from study.item_trial import train_trial
from study.pipelines import PIPELINES
from study.shared_data import trial_data
from study.train import TrainState, save_checkpoint, trial_from_config


class InjectedFaultError(RuntimeError):
    """Raised by a ``fault`` drill of the study config."""


def _maybe_fail(study: StudyConfig, point: dict, epoch: int, device: torch.device) -> None:
    """Carry out the study's fault drill if it applies to this point and epoch."""
    fault = study.fault
    if fault is None or epoch < fault.epoch or any(point.get(k) != v for k, v in fault.when.items()):
        return
    if fault.marker is not None:
        if os.path.exists(fault.marker):
            return
        with open(fault.marker, "w", encoding="utf-8") as f:
            f.write("failed once\n")
    if fault.kind == "oom":
        torch.empty(1 << 62, dtype=torch.uint8, device=device)  # 4 EiB: the allocator refuses
    raise InjectedFaultError(f"injected fault after epoch {epoch}"
                             + (f" (marker {fault.marker})" if fault.marker else ""))


def run_trial(config: dict, study: dict, shared: dict | None = None) -> None:
    """Train ``config["point"]`` of the study on its training set (from the object store by
    ``shared``'s references, else the node's cache); resumes from Tune's checkpoint when retried."""
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
        _maybe_fail(resolved, config["point"], state.epoch, next(state.model.parameters()).device)

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        train_trial(resolved, trial, report, data=data)
    else:
        with checkpoint.as_directory() as directory:
            train_trial(resolved, trial, report, resume=directory, data=data)


def trainable(config: StudyConfig, shared: dict | None = None):
    """run_trial bound to the resolved study config and the references of the training data in the
    object store (``shared``, see study.shared_data), with the trial resources of the config."""
    bound = tune.with_parameters(run_trial, study=config.model_dump(mode="json"), shared=shared or {})
    return tune.with_resources(bound, {"cpu": config.resources.cpu, "gpu": config.resources.gpu})
