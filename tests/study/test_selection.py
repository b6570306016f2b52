"""Val chooses, test reports: a run whose val and test splits peak at different epochs, run by Tune
and read back through its API."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile

import numpy as np
import pandas as pd
import pytest
import torch
from ray import tune
from torch import nn

from models.metrics import LEVELS
from scans.storage import locate
from study.config import parse_config
from study.evaluation import LevelScores, epoch_metrics
from study.report import export_best, write_results
from study.results import choose_epoch, load_trials
from study.train import TrainState, save_checkpoint, trial_from_config

pytestmark = pytest.mark.slow

LABELS = np.array([True] * 6 + [False] * 14)
KINDS = np.array(["blade"] * 3 + ["metal_plate"] * 3 + [""] * 14)


def planted(separation: float, seed: int) -> LevelScores:
    """Scores whose anomalies sit ``separation`` above the benign ones (1: perfectly apart)."""
    rng = np.random.default_rng(seed)
    values = np.clip(rng.uniform(0, 0.5, LABELS.size) + separation * 0.5 * LABELS, 0, 1).astype(np.float32)
    scores = LevelScores()
    for level in LEVELS:
        scores.add(level, LABELS, values, KINDS if level == "object" else None)
    return scores


# val peaks at epoch 1, test at epoch 3: an export that looked at test would pick epoch 3
SEPARATION = {"val": {1: 1.0, 2: 0.4, 3: 0.1}, "test": {1: 0.1, 2: 0.4, 3: 1.0}}


def _planted_trial(config: dict, study: dict) -> None:
    """A Tune trainable: three epochs, each reported with a checkpoint written by the real
    save_checkpoint (model, config, metrics, scores)."""
    resolved = parse_config(study, "planted")
    trial = trial_from_config(resolved, config["point"])
    model = nn.Linear(2, 2)
    state = TrainState(model, torch.optim.SGD(model.parameters(), lr=0.1), data={"n_val": 20})
    for epoch in (1, 2, 3):
        state.epoch = epoch
        state.scores = {split: planted(SEPARATION[split][epoch], seed=epoch * 10 + i)
                        for i, split in enumerate(("val", "test"))}
        metrics = {"epoch": epoch, "train_loss": 1.0 / epoch,
                   **epoch_metrics(state.scores["val"], state.scores["test"], "object_auroc", "max", 5.0)}
        with torch.no_grad():
            model.weight.fill_(epoch)  # tells the exported weights apart
        with tempfile.TemporaryDirectory() as directory:
            save_checkpoint(directory, state, resolved, trial, metrics)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


def write_planted_run(storage) -> str:
    """A run directory as Tune leaves it: one trial of _planted_trial run by a Tuner, and the
    study's config."""
    study = parse_config({"name": "planted", "storage": str(storage), "data": {"archive": "/none"}})
    tuner = tune.Tuner(
        tune.with_parameters(_planted_trial, study=study.model_dump(mode="json")),
        param_space={"point": {"pipeline": "ssn", "backbone": "tiny", "modality": "pseudo"}},
        tune_config=tune.TuneConfig(metric="objective", mode="max"),
        run_config=tune.RunConfig(name="planted", storage_path=str(storage), verbose=0,
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=3)))
    assert not tuner.fit().errors
    run = os.path.join(str(storage), "planted")
    with open(os.path.join(run, "study_config.json"), "w", encoding="utf-8") as f:
        f.write(study.to_json())
    return run


@pytest.fixture(scope="module")
def planted_run(ray_session, tmp_path_factory) -> str:
    """The planted run, written once; a test that changes it works on a copy (planted_copy)."""
    return write_planted_run(tmp_path_factory.mktemp("planted"))


def planted_copy(planted_run: str, tmp_path) -> str:
    """A copy of the planted run elsewhere: Tune's record is read wherever the run directory is."""
    copy = os.path.join(str(tmp_path), "moved", "planted")
    shutil.copytree(planted_run, copy)
    return copy


def test_export_tables_and_threshold_follow_val_not_test(planted_run, tmp_path):
    run = planted_copy(planted_run, tmp_path)
    trial = load_trials(locate(run))[0]
    by_epoch = {e["epoch"]: e for e in trial.epochs}
    assert by_epoch[1]["val_object_auroc"] == 1.0 and by_epoch[3]["test_object_auroc"] == 1.0
    assert by_epoch[3]["test_object_auroc"] > by_epoch[1]["test_object_auroc"]

    assert sorted(m["epoch"] for _, m in trial.checkpoints) == [1, 2, 3]  # the checkpoints Tune kept
    chosen = choose_epoch(locate(run), trial, "max")
    assert chosen.metrics["epoch"] == 1 and chosen.checkpoint.startswith(f"{trial.directory}/")
    assert os.path.isdir(os.path.join(run, chosen.checkpoint))  # in the copy, not where Tune wrote it

    card = export_best(run)
    assert card["metrics"]["epoch"] == 1 and card["val_objective"] == 1.0
    weights = torch.load(os.path.join(run, "best", "model.pt"), weights_only=True)
    assert float(weights["weight"][0, 0]) == 1.0  # epoch 1's weights, not epoch 3's
    assert card["threshold"] == by_epoch[1]["threshold"]  # the val-chosen threshold of that epoch
    assert card["test"]["object"]["auroc"]["value"] == pytest.approx(by_epoch[1]["test_object_auroc"])
    assert {k["kind"] for k in card["kinds"]} == {"blade", "metal_plate"}

    write_results(run)
    table = pd.read_csv(os.path.join(run, "results", "table_object.csv"))
    assert table["val_objective"].tolist() == [1.0]
    assert table["AUROC"].tolist() == [pytest.approx(by_epoch[1]["test_object_auroc"])]
    frame = pd.read_csv(os.path.join(run, "results", "trials.csv"))
    assert frame["best_epoch"].tolist() == [1] and frame["threshold"].tolist() == [by_epoch[1]["threshold"]]
    kinds = pd.read_csv(os.path.join(run, "results", "kinds_ssn.csv"))
    assert sorted(kinds["kind"]) == ["blade", "metal_plate"] and kinds["items"].tolist() == [3, 3]


def test_broken_scores_and_runs_from_before_val_are_named_errors(planted_run, tmp_path):
    run = planted_copy(planted_run, tmp_path)
    trial = load_trials(locate(run))[0]
    chosen = choose_epoch(locate(run), trial, "max")
    with open(os.path.join(run, chosen.checkpoint, "scores.npz"), "r+b") as f:
        f.truncate(100)
    broken = re.escape(f"{chosen.checkpoint}/scores.npz: unreadable checkpoint scores")
    with pytest.raises(ValueError, match=broken):
        export_best(run)
    old = os.path.join(run, trial.directory, "result.json")  # Tune's record of the trial's reports
    with open(old, "w", encoding="utf-8") as f:  # as a run before this change reported: test only
        line = {"epoch": 1, "objective": 0.7, "object_auroc": 0.7, "config": {"point": {}}}
        f.write(json.dumps(line) + "\n")
    old_run = re.escape(f"{trial.directory}: this trial was run before studies chose on val")
    with pytest.raises(ValueError, match=old_run):
        load_trials(locate(run))
