"""Training one configuration without Ray: metrics every epoch, checkpoints, resume, thresholds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from study.config import ObjectiveConfig, parse_config
from study.data import load_study_data
from study.pipelines import PIPELINES, LevelScores
from study.train import METRIC_NAMES, TrainState, epoch_metrics, save_checkpoint, train, trial_from_config


def study_config(archive: str, tmp_path, **space) -> object:
    return parse_config({"name": "t", "storage": str(tmp_path), "data": {"archive": archive, "image_size": 48,
                         "cache": str(tmp_path / "cache")},
                         "space": {"epochs": 2, **space}, "training": {"crop_size": 16}})


CHOICES = {"backbone": "tiny", "modality": "pseudo", "k": 30, "optimizer": "adam", "lr": 1e-3,
           "batch_size": 4}


@pytest.mark.parametrize("pipeline", list(PIPELINES))
def test_every_epoch_reports_every_metric(study_archive, tmp_path, pipeline):
    config = study_config(study_archive, tmp_path)
    trial = trial_from_config(config, {"pipeline": pipeline, **CHOICES})
    reported = []
    train(config, trial, lambda metrics, state: reported.append(dict(metrics)))
    assert [m["epoch"] for m in reported] == [1, 2]
    for metrics in reported:
        assert set(metrics) == set(METRIC_NAMES)
        assert all(isinstance(v, float | int) for v in metrics.values())
        assert math.isfinite(metrics["objective"])


def test_split_is_read_once_and_cached_on_disk(study_archive, tmp_path):
    config = study_config(study_archive, tmp_path)
    first = load_study_data(config.data, "hlz")
    assert first is load_study_data(config.data, "hlz")  # same process: memory
    files = list((tmp_path / "cache").glob("dualscan-data-*.npz"))
    assert len(files) == 1
    assert first.train.images.shape == (8, 3, 48, 48) and len(first.test) == 8
    assert first.threshold_split == "train"  # no val split in this archive


def test_checkpoint_resume_continues_where_it_stopped(study_archive, tmp_path):
    config = study_config(study_archive, tmp_path)
    trial = trial_from_config(config, {"pipeline": "ssn", **CHOICES})
    directory = tmp_path / "ckpt"

    def keep_first(metrics: dict, state: TrainState) -> None:
        if state.epoch == 1:
            save_checkpoint(str(directory), state, config, trial, metrics)

    train(config, trial, keep_first)
    saved = json.loads((directory / "config.json").read_text())
    assert saved["trial"]["k"] == 30 and saved["study"]["data"]["image_size"] == 48
    assert saved["data"]["n_train"] == 8
    state = torch.load(directory / "model.pt", weights_only=True)
    assert any(k.startswith("backbone.") for k in state)
    resumed = []
    train(config, trial, lambda metrics, state: resumed.append(metrics["epoch"]), resume=str(directory))
    assert resumed == [2]


def scores_of(level_labels: dict) -> LevelScores:
    scores = LevelScores()
    for level, (labels, values) in level_labels.items():
        scores.add(level, torch.tensor(labels), torch.tensor(values))
    return scores


def test_metrics_at_a_target_fp_threshold_and_undefined_values():
    test = scores_of({"segment": ([True, False], [0.9, 0.1]),
                      "object": ([True, False, False], [0.8, 0.6, 0.2]), "scan": ([True, True], [0.9, 0.8])})
    val = scores_of({"segment": ([False], [0.5]), "object": ([False, False, True], [0.7, 0.3, 0.9]),
                     "scan": ([True], [0.9])})
    at_half = epoch_metrics(test, val, ObjectiveConfig(metric="object_f1"))
    assert at_half["threshold"] == 0.5 and at_half["object_fp_pct"] == 50.0
    strict = epoch_metrics(test, val, ObjectiveConfig(metric="object_tp_pct", fp_target=0.0))
    assert strict["threshold"] == pytest.approx(0.7, abs=1e-6)  # just above the top benign val score
    assert strict["object_fp_pct"] == 0.0 and strict["object_tp_pct"] == 100.0
    assert math.isnan(at_half["scan_fp_pct"])  # no benign scan: FP% undefined, reported as NaN
    scan_only = epoch_metrics(test, val, ObjectiveConfig(metric="scan_fp_pct", mode="min"))
    assert scan_only["objective"] == 1e6  # undefined objective: the worst value, never NaN


def test_level_scores_concatenate_batches():
    scores = LevelScores()
    scores.add("object", torch.tensor([True]), torch.tensor([0.3]))
    scores.add("object", torch.tensor([False, True]), torch.tensor([0.1, 0.7]))
    labels, values = scores.arrays("object")
    assert labels.tolist() == [True, False, True]
    np.testing.assert_allclose(values, [0.3, 0.1, 0.7])
