"""The paper's item stage: a Mask R-CNN finder trained on an archive's train scans, its items found
and scored on val and test, and a model trained on it judged end to end by `dualscan evaluate`."""

from __future__ import annotations

import json
import math

import numpy as np
import yaml

from jobs.cli import main
from models.items.finders import MaskRCNNFinder
from models.items.stage import load_finder
from scans.archive import Archive
from study.config import parse_config
from study.data import split_ids
from study.items.judge import evaluate_model
from study.items.stage import found_masks, run_item_stage


def paper_stage_config(archive: str, tmp_path) -> dict:
    """The object-level pipeline on a Mask R-CNN item stage, cut to a few steps on 96² scans."""
    return {"name": "mrcnn", "storage": str(tmp_path / "runs"),
            "data": {"archive": archive, "cache": str(tmp_path / "cache")},
            "space": {"pipelines": ["object"], "backbones": ["squeezenet1_1"], "modalities": ["pseudo"],
                      "optimizers": ["sgd"], "lr": [2e-4], "batch_size": [2]},
            "items": {"finder": "maskrcnn", "modality": "pseudo", "steps": 3, "batch": 1, "lr": 2e-4,
                      "image_size": 96, "score_threshold": 0.05},
            "recipe": {"steps": 2, "eval_every": 2},
            "training": {"crop_size": 32, "momentum": 0.9}}


def test_the_maskrcnn_item_stage_trains_finds_and_is_scored(small_archive_val, tmp_path):
    config = parse_config(paper_stage_config(small_archive_val, tmp_path))
    stage = str(tmp_path / "items")
    metrics = run_item_stage(config, stage)
    assert math.isfinite(metrics["train_loss_last"]) and metrics["n_train_scans"] == 4
    ids = split_ids(config.data, Archive(small_archive_val))
    for split in ("val", "test"):  # every scan's items found and matched against its truth
        assert metrics[f"{split}_n_true"] > 0 and 0.0 <= metrics[f"{split}_recall"] <= 1.0
        found = found_masks(stage, split)
        assert set(found) == set(ids[split])
    assert metrics["test_n_found"] > 0  # weak detections kept: the items below are scored
    finder, spec = load_finder(stage)
    assert isinstance(finder, MaskRCNNFinder) and spec["kwargs"]["image_size"] == 96


def test_a_model_on_the_maskrcnn_stage_is_judged_end_to_end(small_archive_val, tmp_path):
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(paper_stage_config(small_archive_val, tmp_path)))
    model = tmp_path / "model"
    assert main(["train", "--config", str(path), "--out", str(model)]) == 0
    stage = json.loads((model / "items" / "config.json").read_text())
    assert stage["finder"]["name"] == "maskrcnn"
    evaluation = evaluate_model(str(model), small_archive_val, "test", "cpu")
    assert evaluation.n_scans == 4 and evaluation.n_found_items > 0
    assert len(evaluation.scores) == len(evaluation.labels) >= evaluation.n_true_items
    assert np.isfinite(evaluation.scores).all()
