"""Running a study with Ray Tune: the Tuner from a StudyConfig, fresh or restored."""

from __future__ import annotations

import os

import ray
import torch
from ray import tune

from models.model_dir import ITEM_STAGE_DIR
from scans.storage import locate
from study.config import StudyConfig, parse_config
from study.items.stage import ensure_item_stage, run_item_stage
from study.shared_data import share_training_data
from study.space import num_samples, param_space, scheduler, search_algorithm
from study.trainable import EpochHook, trainable
from study.tune_progress import progress_callbacks, progress_verbosity

STUDY_CONFIG = "study_config.json"  # the resolved config, in the run directory


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


def _item_stage_task(study: dict, directory: str) -> dict:
    """The item stage in a Ray worker: trained there with the stage's own threads."""
    config = parse_config(study, "study config")
    torch.set_num_threads(max(1, int(config.items.resources.cpu)))
    return run_item_stage(config, directory)


def item_stage_on_cluster(config: StudyConfig, directory: str) -> dict:
    """Train the item stage as a Ray task with its own resources (``items.resources``: a GPU node's
    when it asks for one), retried ``retries`` times; the driver only waits, and a stage cut short
    resumes from its checkpoint in the run's storage."""
    resources = config.items.resources
    task = ray.remote(_item_stage_task).options(num_cpus=resources.cpu, num_gpus=resources.gpu,
                                                max_retries=config.retries, retry_exceptions=True,
                                                name="item stage")
    return ray.get(task.remote(config.model_dump(mode="json"), directory))


def build_tuner(config: StudyConfig, resume: bool = False, overwrite: bool = False,
                after_epoch: EpochHook | None = None) -> tune.Tuner:
    """A Tuner for the study, or the interrupted one at STORAGE/NAME restored (finished trials kept;
    a study cut short in its item stage, before any trial, resumes the stage). A fresh study
    refuses a run directory that already has trials unless ``overwrite``. The item stage trains as
    a Ray task (item_stage_on_cluster). Each trial calls ``after_epoch`` after each epoch's
    checkpoint (study.trainable)."""
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    path = run_uri(config)
    root = locate(path)
    stage = f"{path}/{ITEM_STAGE_DIR}"
    if resume and tune.Tuner.can_restore(path):
        config = ensure_item_stage(config, stage, runner=item_stage_on_cluster)
        return tune.Tuner.restore(path, trainable(config, share_training_data(config), after_epoch),
                                  resume_unfinished=True, resume_errored=True)
    if resume and not root.exists(STUDY_CONFIG):
        raise FileNotFoundError(f"--resume: no interrupted study at {path}")
    if overwrite:
        root.remove_tree()
    elif not resume and root.list_dirs():
        raise RunExistsError(f"{path} already holds a study: --resume to continue it, --name for a new "
                             "one, or --overwrite to replace it")
    root.makedirs()
    root.write_bytes(STUDY_CONFIG, config.to_json().encode())  # before the stage: --resume finds it
    config = ensure_item_stage(config, stage, runner=item_stage_on_cluster)
    root.write_bytes(STUDY_CONFIG, config.to_json().encode())
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
            callbacks=[*tracking_callbacks(config), *progress_callbacks(config)],
            verbose=progress_verbosity()),
    )
