"""Every file of a run goes through its ModelDirectory, on local and remote storage alike: a trial's
checkpoint (weights, optimiser and schedule, scores, progress) written and resumed, an item stage's
checkpoint and found items, pretraining's weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from models.model_dir import ModelDirectory
from models.spec import ModelSpec
from study.config import ItemStageConfig, parse_config
from study.evaluation import LevelScores
from study.items.stage import _checkpointer, _resumable, finder_spec, found_masks
from study.train import TrainState, load_checkpoint, save_checkpoint


@pytest.fixture(params=["local", "s3"])
def uri(request, tmp_path) -> str:
    """A directory on this machine's disk, or in a (moto) S3 bucket."""
    if request.param == "local":
        return str(tmp_path / "run")
    return request.getfixturevalue("s3_bucket").format("run")


def trained_state(seed: int) -> tuple[TrainState, torch.optim.lr_scheduler.LRScheduler]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 1e-2, total_steps=10)
    for _ in range(3):
        model(torch.randn(2, 3, 8, 8)).square().mean().backward()
        optimizer.step()
        schedule.step()
    return TrainState(model, optimizer), schedule


def level_scores(values: list[float]) -> LevelScores:
    scores = LevelScores()
    for level in ("segment", "object", "scan"):
        scores.add(level, torch.tensor([False, True, False]), torch.tensor(values))
    return scores


def test_a_checkpoint_is_written_and_resumed_through_its_model_directory(uri):
    config = parse_config({"data": {"archive": "unused"}})
    trial = ModelSpec(pipeline="ssn", backbone="tiny", modality="hlz")
    state, schedule = trained_state(0)
    state.epoch, state.schedule = 3, schedule.state_dict()
    state.scores = {"val": level_scores([0.1, 0.9, 0.2]), "test": level_scores([0.3, 0.7, 0.4])}
    save_checkpoint(uri, state, config, trial, {"objective": 0.5})
    assert ModelDirectory(uri).progress() == {"epoch": 3}
    resumed, fresh_schedule = trained_state(1)
    load_checkpoint(uri, resumed, fresh_schedule)
    assert resumed.epoch == 3 and fresh_schedule.state_dict() == schedule.state_dict()
    for name, value in state.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name
    saved, loaded = state.optimizer.state_dict(), resumed.optimizer.state_dict()
    for index, moments in saved["state"].items():
        assert torch.equal(loaded["state"][index]["exp_avg"], moments["exp_avg"])
    for split in ("val", "test"):
        for level in ("segment", "object", "scan"):
            np.testing.assert_array_equal(resumed.scores[split].arrays(level)[1],
                                          state.scores[split].arrays(level)[1])


def test_an_item_stages_checkpoint_and_found_items_go_through_its_model_directory(uri):
    stage = ModelDirectory(uri)
    spec = finder_spec(ItemStageConfig())
    stage.write_json("config.json", {"finder": spec})
    assert _resumable(stage, spec) is None  # no checkpoint yet
    state, schedule = trained_state(2)
    _checkpointer(stage)(7, {"finder": state.model.state_dict(), "optimizer": state.optimizer.state_dict(),
                             "schedule": schedule.state_dict()})
    resume = _resumable(stage, spec)
    assert resume["step"] == 7 and resume["schedule"] == schedule.state_dict()
    assert torch.equal(resume["finder"]["0.weight"], state.model.state_dict()["0.weight"])
    assert _resumable(stage, {**spec, "name": "maskrcnn"}) is None  # another finder's: afresh
    found = {"val/a": np.array([[0, 1], [2, 2]], np.int16), "test/b": np.zeros((2, 2), np.int16)}
    stage.write_found(found)
    masks = found_masks(uri, "val")
    assert list(masks) == ["a"] and [m.sum() for m in masks["a"]] == [1, 2]
    assert found_masks(uri, "test") == {"b": []}


def test_pretrainings_weights_go_through_a_model_directory(uri):
    state, _ = trained_state(3)
    ModelDirectory(uri).write_pretrained(state.model.state_dict(), {"curve": [{"step": 1}]})
    read = ModelDirectory(uri)
    assert read.read_json("pretrain.json") == {"curve": [{"step": 1}]}
    weights = read.read_state("weights.pt")
    assert torch.equal(weights["1.running_mean"], state.model.state_dict()["1.running_mean"])
