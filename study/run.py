"""Running a study with Ray Tune: the Tuner from a StudyConfig, fresh or restored."""

from __future__ import annotations

import os

from ray import tune

from models.model_dir import ITEM_STAGE_DIR
from scans.storage import locate
from study.config import StudyConfig
from study.items.stage import ensure_item_stage
from study.shared_data import share_training_data
from study.space import num_samples, param_space, scheduler, search_algorithm
from study.trainable import EpochHook, trainable
from study.tune_progress import study_reporter


def run_uri(config: StudyConfig) -> str:
    """STORAGE/NAME, where Tune's trial folders, results/ and best/ go."""
    return "/".join([config.storage_uri().rstrip("/"), config.name])


def tracking_callbacks(config: StudyConfig) -> list:
    """Ray's own logger callbacks for the trackers the config names (TensorBoard event files Tune
    writes anyway, with tensorboardX): MLflow, one run per trial with its parameters and metrics."""
    callbacks = []
    if config.tracking.mlflow:
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        if config.tracking.mlflow.startswith("file:"):  # MLflow 3 asks file stores to opt in
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        callbacks.append(MLflowLoggerCallback(tracking_uri=config.tracking.mlflow,
                                              experiment_name=config.tracking.experiment or config.name))
    return callbacks



class RunExistsError(FileExistsError):
    """A fresh study would mix its trials with an earlier run's."""


def build_tuner(config: StudyConfig, resume: bool = False, overwrite: bool = False,
                after_epoch: EpochHook | None = None) -> tune.Tuner:
    """A Tuner for the study, or the interrupted one at STORAGE/NAME restored (finished trials kept).
    A fresh study refuses a run directory that already has trials unless ``overwrite``. Each trial
    calls ``after_epoch`` after each epoch's checkpoint (study.trainable)."""
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    path = run_uri(config)
    if resume:
        if not tune.Tuner.can_restore(path):
            raise FileNotFoundError(f"--resume: no interrupted study at {path}")
        config = ensure_item_stage(config, f"{path}/{ITEM_STAGE_DIR}", train=False)
        return tune.Tuner.restore(path, trainable(config, share_training_data(config), after_epoch),
                                  resume_unfinished=True, resume_errored=True)
    root = locate(path)
    if overwrite:
        root.remove_tree()
    elif root.list_dirs():
        raise RunExistsError(f"{path} already holds a study: --resume to continue it, --name for a new "
                             "one, or --overwrite to replace it")
    root.makedirs()
    config = ensure_item_stage(config, f"{path}/{ITEM_STAGE_DIR}")
    root.write_bytes("study_config.json", config.to_json().encode())
    return tune.Tuner(
        trainable(config, share_training_data(config), after_epoch),
        param_space=param_space(config),
        tune_config=tune.TuneConfig(
            metric="objective", mode=config.objective.mode, search_alg=search_algorithm(config),
            scheduler=scheduler(config), num_samples=num_samples(config),
            max_concurrent_trials=(config.search.max_concurrent
                                   if config.search.algorithm == "optuna" else None),
            reuse_actors=True),
        run_config=tune.RunConfig(
            name=config.name, storage_path=config.storage_uri(),
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=config.keep_checkpoints, checkpoint_score_attribute="objective",
                checkpoint_score_order=config.objective.mode),
            failure_config=tune.FailureConfig(max_failures=config.retries),
            callbacks=tracking_callbacks(config),
            progress_reporter=study_reporter(config), verbose=1),
    )
