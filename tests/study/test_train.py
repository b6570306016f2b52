"""Training one configuration without Ray: metrics every epoch, checkpoints, resume, thresholds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from models.metrics import binary_metrics
from scans.archive import Archive
from scans.synth import SynthConfig, synthesise
from study.config import ConfigError, parse_config
from study.data import NoValSplitError, load_study_data, split_ids
from study.evaluation import LevelScores, epoch_metrics, read_scores_npz, scores_npz
from study.pipelines import PIPELINES
from study.train import METRIC_NAMES, TrainState, save_checkpoint, train, trial_from_config


def study_config(archive: str, tmp_path, **space) -> object:
    return parse_config({"name": "t", "storage": str(tmp_path), "data": {"archive": archive, "image_size": 48,
                         "cache": str(tmp_path / "cache")},
                         "space": {"epochs": 2, **space}, "training": {"crop_size": 16}})


CHOICES = {"backbone": "tiny", "modality": "pseudo", "k": 30, "optimizer": "adam", "lr": 1e-3,
           "batch_size": 4}


@pytest.mark.parametrize("pipeline", [name for name in PIPELINES if not PIPELINES[name].item_first])
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
    files = list((tmp_path / "cache").glob("dualscan-data-*/_COMPLETE"))
    assert len(files) == 1
    assert first.train.images.shape == (8, 3, 48, 48) and len(first.val) == 4 and len(first.test) == 8
    assert first.val.object_kind.shape == first.val.object_anomalous.shape
    anomalous = first.val.object_anomalous.numpy()
    assert ((first.val.object_kind != "") == anomalous).all()  # a kind exactly for anomalous items
    assert first.archive_pitch_mm == pytest.approx(500 / 64)  # the 50 cm tray across 64 pixels
    assert first.input_pitch_mm == pytest.approx(500 / 48)  # what the model sees at 48²


def test_a_study_without_a_val_split_stops_and_says_how_to_get_one(tmp_path):
    archive = str(tmp_path / "noval")
    synthesise(SynthConfig(n=6, size=32, seed=1, split=0.5, val=0.0), archive, workers=1, progress=False)
    config = study_config(archive, tmp_path)
    with pytest.raises(NoValSplitError, match=r"no val scans.*dualscan synth --val 0\.1"):
        split_ids(config.data)
    with pytest.raises(NoValSplitError):
        load_study_data(config.data, "pseudo")
    random = parse_config({"data": {"archive": archive, "split": "random", "train_fraction": 0.6,
                                    "val_fraction": 0.2}})
    ids = split_ids(random.data)
    # round(0.6 · 6) = 4 scans fit, round(0.2 · 6) = 1 of them is val, the other 2 test
    assert [len(ids[s]) for s in ("train", "val", "test")] == [3, 1, 2]
    assert not set(ids["val"]) & (set(ids["train"]) | set(ids["test"]))
    with pytest.raises(ConfigError, match="val_fraction"):
        parse_config({"data": {"archive": archive, "split": "random", "train_fraction": 0.3,
                               "val_fraction": 0.3}})


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
    assert (saved["data"]["n_train"], saved["data"]["n_val"], saved["data"]["n_test"]) == (8, 4, 8)
    assert saved["data"]["input_pitch_mm"] == pytest.approx(500 / 48)
    # a world-2 archive split by model: the models training saw, to tell seen from unseen designs later
    assert saved["data"]["train_models"] == Archive(study_archive).info["models_by_split"]["train"]
    scores = read_scores_npz((directory / "scores.npz").read_bytes())
    assert set(scores) == {"val", "test"}
    labels, _ = scores["test"].arrays("object")
    assert scores["test"].object_kinds().shape == labels.shape
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


def test_threshold_and_objective_come_from_val_and_test_only_reports():
    val = scores_of({"segment": ([False], [0.5]), "object": ([False, False, True], [0.7, 0.3, 0.9]),
                     "scan": ([True], [0.9])})
    test = scores_of({"segment": ([True, False], [0.9, 0.1]),
                      "object": ([True, False, False], [0.8, 0.6, 0.2]), "scan": ([True, True], [0.9, 0.8])})
    strict = epoch_metrics(val, test, "object_tp_pct", "max", fp_target=0.0)
    assert strict["threshold"] == pytest.approx(0.7, abs=1e-6)  # just above the top benign val score
    assert strict["val_object_fp_pct"] == 0.0 and strict["objective"] == strict["val_object_tp_pct"] == 100.0
    assert strict["test_object_fp_pct"] == 0.0 and strict["test_object_tp_pct"] == 100.0
    assert strict["val_object_auroc"] == 1.0 and strict["test_object_auroc"] == 1.0
    # any other test scores: the same threshold and objective, only the test_* record changes
    flipped = scores_of({"segment": ([True, False], [0.1, 0.9]),
                         "object": ([True, False, False], [0.1, 0.9, 0.8]),
                         "scan": ([True, True], [0.1, 0.2])})
    other = epoch_metrics(val, flipped, "object_tp_pct", "max", fp_target=0.0)
    assert (other["threshold"], other["objective"]) == (strict["threshold"], strict["objective"])
    assert other["test_object_auroc"] == 0.0
    assert math.isnan(strict["test_scan_fp_pct"])  # no benign test scan: FP% undefined, NaN
    undefined = epoch_metrics(val, test, "scan_fp_pct", "min", fp_target=5.0)
    assert undefined["threshold"] == 0.5  # val has no benign scan to set a threshold with
    assert undefined["objective"] == 1e6  # undefined objective: the worst value, never NaN
    default = parse_config({"data": {"archive": "/x"}}).objective
    assert (default.metric, default.mode, default.fp_target) == ("object_auroc", "max", 5.0)


def test_every_epoch_threshold_keeps_val_fp_at_the_target(study_archive, tmp_path):
    config = study_config(study_archive, tmp_path)
    trial = trial_from_config(config, {"pipeline": "ssn", **CHOICES})
    reported = []
    train(config, trial, lambda metrics, state: reported.append((dict(metrics), state.scores)))
    for metrics, scores in reported:
        assert metrics["val_object_fp_pct"] <= config.objective.fp_target
        assert metrics["objective"] == metrics["val_object_auroc"]
        labels, values = scores["val"].arrays("object")
        assert binary_metrics(labels, values, metrics["threshold"]).fp_pct == metrics["val_object_fp_pct"]


def test_level_scores_concatenate_batches():
    scores = LevelScores()
    scores.add("object", torch.tensor([True]), torch.tensor([0.3]))
    scores.add("object", torch.tensor([False, True]), torch.tensor([0.1, 0.7]))
    labels, values = scores.arrays("object")
    assert labels.tolist() == [True, False, True]
    np.testing.assert_allclose(values, [0.3, 0.1, 0.7])


def test_level_scores_number_scans_across_batches_and_read_old_files():
    scores = LevelScores()
    scores.add("object", np.array([True, False, False]), np.array([0.9, 0.2, 0.4]), scans=[0, 0, 1])
    scores.add("object", np.array([True, True]), np.array([0.8, 0.7]), scans=[1, 1])  # next batch's scan 1
    scores.add("scan", np.array([True, False]), np.array([0.9, 0.4]))
    assert scores.scan_ids("object").tolist() == [0, 0, 1, 3, 3]
    assert scores.scan_ids("scan").tolist() == [0, 1]  # a scan is its own group
    again = read_scores_npz(scores_npz({"test": scores}))["test"]
    assert again.scan_ids("object").tolist() == [0, 0, 1, 3, 3]
    old = {k: v for k, v in scores.flat("test/").items() if not k.endswith("/scans")}  # as kept before
    assert LevelScores.from_flat(old, "test/").scan_ids("object").tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="2 scan ids for 3 samples"):
        scores.add("segment", np.zeros(3, bool), np.zeros(3), scans=[0, 1])
