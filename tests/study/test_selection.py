"""Val chooses, test reports: a run whose val and test splits peak at different epochs."""

from __future__ import annotations

import json
import os
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from models.metrics import LEVELS
from scans.storage import locate
from study.config import parse_config
from study.evaluation import LevelScores, epoch_metrics
from study.report import export_best, write_results
from study.results import choose_epoch, load_trials
from study.train import TrainState, save_checkpoint, trial_from_config

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


def write_planted_run(storage) -> str:
    """A run directory as Tune leaves it: one trial, result.json lines, a checkpoint per epoch
    written by the real save_checkpoint (model, config, metrics, scores)."""
    study = parse_config({"name": "planted", "storage": str(storage), "data": {"archive": "/none"}})
    trial = trial_from_config(study, {"pipeline": "ssn", "backbone": "tiny", "modality": "pseudo"})
    run = os.path.join(str(storage), "planted")
    os.makedirs(os.path.join(run, "trial_a"))
    with open(os.path.join(run, "study_config.json"), "w", encoding="utf-8") as f:
        f.write(study.to_json())
    model = nn.Linear(2, 2)
    state = TrainState(model, torch.optim.SGD(model.parameters(), lr=0.1), data={"n_val": 20})
    lines = []
    for epoch in (1, 2, 3):
        state.epoch = epoch
        state.scores = {split: planted(SEPARATION[split][epoch], seed=epoch * 10 + i)
                        for i, split in enumerate(("val", "test"))}
        metrics = {"epoch": epoch, "train_loss": 1.0 / epoch,
                   **epoch_metrics(state.scores["val"], state.scores["test"], "object_auroc", "max", 5.0)}
        with torch.no_grad():
            model.weight.fill_(epoch)  # tells the exported weights apart
        directory = os.path.join(run, "trial_a", f"checkpoint_{epoch - 1:06d}")
        save_checkpoint(directory, state, study, trial, metrics)
        lines.append(json.dumps({**metrics, "config": {"point": asdict(trial)}}))
    with open(os.path.join(run, "trial_a", "result.json"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return run


def test_export_tables_and_threshold_follow_val_not_test(tmp_path):
    run = write_planted_run(tmp_path)
    trial = load_trials(locate(run))[0]
    by_epoch = {e["epoch"]: e for e in trial.epochs}
    assert by_epoch[1]["val_object_auroc"] == 1.0 and by_epoch[3]["test_object_auroc"] == 1.0
    assert by_epoch[3]["test_object_auroc"] > by_epoch[1]["test_object_auroc"]

    chosen = choose_epoch(locate(run), trial, "max")
    assert chosen.metrics["epoch"] == 1 and chosen.checkpoint.endswith("checkpoint_000000")

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


def test_broken_scores_and_runs_from_before_val_are_named_errors(tmp_path):
    run = write_planted_run(tmp_path)
    scores = os.path.join(run, "trial_a", "checkpoint_000000", "scores.npz")
    with open(scores, "r+b") as f:
        f.truncate(100)
    with pytest.raises(ValueError, match=r"checkpoint_000000/scores.npz: unreadable checkpoint scores"):
        export_best(run)
    old = os.path.join(run, "trial_a", "result.json")
    with open(old, "w", encoding="utf-8") as f:  # as a run before this change reported: test only
        line = {"epoch": 1, "objective": 0.7, "object_auroc": 0.7, "config": {"point": {}}}
        f.write(json.dumps(line) + "\n")
    with pytest.raises(ValueError, match=r"result\.json: this trial was run before studies chose on val"):
        load_trials(locate(run))
