"""Item-first trials: val chooses rule, epoch and threshold on found items; test is scored once."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from models.items.stage import build_finder
from models.model_dir import ModelDirectory
from scans.archive import Archive
from study.config import parse_config
from study.data import split_ids
from study.evaluation import read_scores_npz
from study.items.stage import ensure_item_stage, finder_spec, found_masks, found_splits, refind_items
from study.items.trial import load_item_study_data, train_item_trial
from study.pipelines import PIPELINES
from study.train import save_checkpoint, trial_from_config

# the detector's recipe of issue 26: the item's context and frame, small anomalies, a learned item head
NEW_DETECTOR = {"item_input": "frame", "small_anomalies": True, "head_holdout": 0.4}


def perfect_stage(config, directory) -> str:
    """An item stage whose found items are the true ones (an untrained finder beside them)."""
    archive = Archive(config.data.archive)
    ids = split_ids(config.data, archive)
    found = {f"{split}/{i}": archive.read(i).objects.astype(np.int16) for split in found_splits(config)
             for i in ids[split]}
    directory.mkdir()
    spec = finder_spec(config.items)
    torch.save(build_finder(spec).state_dict(), directory / "model.pt")
    np.savez_compressed(directory / "found.npz", **found)
    (directory / "config.json").write_text(json.dumps({"finder": spec,
                                                       "items": config.items.model_dump(mode="json")}))
    (directory / "metrics.json").write_text("{}")
    return str(directory)


def item_config(archive: str, tmp_path, pipeline: str, **recipe):
    base = parse_config({"name": "t", "storage": str(tmp_path),
                         "data": {"archive": archive, "cache": str(tmp_path / "cache")},
                         "space": {"pipelines": [pipeline]},
                         "items": {"scale": 2},
                         "recipe": {"steps": 4, "eval_every": 2, "tile": 32, "mine_every": 2,
                                    "mine_items": 2, **recipe},
                         "training": {"crop_size": 32}})
    stage = perfect_stage(base, tmp_path / "items")
    return base.model_copy(update={"items": base.items.model_copy(update={"directory": stage})})


@pytest.mark.parametrize("pipeline", ["subcomponent", "object"])
def test_val_chooses_and_test_is_scored_once_on_the_chosen_weights(small_archive_val, tmp_path, pipeline):
    config = item_config(small_archive_val, tmp_path, pipeline)
    trial = trial_from_config(config, {"pipeline": pipeline, "backbone": "resnet18", "modality": "hlz",
                                       "k": 20, "lr": 1e-3, "batch_size": 4})
    assert trial.epochs == 2
    reported, states = [], []

    def on_epoch(metrics, state):
        reported.append(dict(metrics))
        states.append(state)
        save_checkpoint(str(tmp_path / f"ckpt{state.epoch}"), state, config, trial, metrics)

    train_item_trial(config, trial, on_epoch)
    first, last = reported
    assert [first["epoch"], last["epoch"]] == [1, 2] and [first["step"], last["step"]] == [2, 4]
    # before the end nothing is scored on test; at the end test is, with the weights val chose
    assert math.isnan(first["test_object_auroc"]) and math.isfinite(first["val_object_auroc"])
    assert math.isfinite(last["test_object_tp_pct"]) and last["chosen_epoch"] in (1, 2)
    assert last["objective"] == max(first["objective"], last["objective"])
    assert "true_test_object_auroc" in last and last["item_score"] in [*config.recipe.item_scores, "whole"]
    splits = read_scores_npz((tmp_path / "ckpt2" / "scores.npz").read_bytes())
    assert set(splits) == {"val", "test", "val_true", "test_true"}
    data = load_item_study_data(config, "hlz")
    # the perfect stage finds every true item: found and true sets hold the same items
    assert len(data.test) == len(data.test_true) and len(data.test.missed_scan) == 0
    assert len(splits["test"].arrays("object")[0]) == len(data.test)
    # each item's class reaches the test pass (per-class figures); world 1 records no models
    archive = Archive(small_archive_val)
    truth = [c for i in archive.ids_in_split("test") for c in archive.read(i).object_class]
    assert sorted(splits["test"].object_classes().tolist()) == sorted(truth)
    assert set(splits["test"].object_models().tolist()) == {""}


def test_the_item_head_learns_on_held_out_train_items_only(small_archive_val, tmp_path, monkeypatch):
    import study.items.trial

    config = item_config(small_archive_val, tmp_path, "subcomponent", **NEW_DETECTOR)
    trial = trial_from_config(config, {"pipeline": "subcomponent", "backbone": "resnet18", "modality": "hlz",
                                       "k": 20, "lr": 1e-3, "batch_size": 4})
    assert trial.item_head and trial.item_input == "frame" and trial.small_anomalies
    fitted_on, val_rules = [], []
    fit, choose = study.items.trial.fit_item_head, study.items.trial.choose_rule
    monkeypatch.setattr(study.items.trial, "fit_item_head",
                        lambda model, items, device: (fitted_on.append(items), fit(model, items, device)))
    def recorded_choice(items, scores):
        val_rules.append(set(scores.by_rule))
        return choose(items, scores)

    monkeypatch.setattr(study.items.trial, "choose_rule", recorded_choice)
    reported = []
    train_item_trial(config, trial, lambda metrics, state: reported.append((metrics, state)))
    data = load_item_study_data(config, "hlz")
    ids = split_ids(config.data)
    held, trained = set(data.held_out.scan_ids), set(data.train.scan_ids)
    assert held and trained and not held & trained and held | trained == set(ids["train"])
    assert not held & (set(ids["val"]) | set(ids["test"]))
    assert [items is data.held_out for items in fitted_on] == [True]  # fitted once, on held-out items
    # every epoch chose among the fixed rules; after the fit, val chose among them and the learned one
    assert "learned" not in val_rules[0] and val_rules[-1] == set(config.recipe.item_scores)
    metrics, state = reported[-1]
    assert bool(state.model.item_head.fitted) and metrics["item_score"] in config.recipe.item_scores


def test_training_on_found_masks_takes_the_stages_train_items(small_archive_val, tmp_path):
    sets = {}
    for masks in ("true", "both"):
        (tmp_path / masks).mkdir()
        config = item_config(small_archive_val, tmp_path / masks, "subcomponent", train_masks=masks)
        sets[masks] = load_item_study_data(config, "hlz")
    # the perfect stage's found train items are the true ones: "both" holds each twice
    assert len(sets["both"].train) == 2 * len(sets["true"].train) > 0
    assert sets["both"].train.anomalous.sum() == 2 * sets["true"].train.anomalous.sum()


def test_a_stage_without_found_train_items_finds_them_when_the_recipe_needs_them(small_archive_val, tmp_path):
    trained = item_config(small_archive_val, tmp_path, "subcomponent")
    stage = trained.items.directory
    assert not found_masks(stage, "train")
    config = trained.model_copy(update={"items": trained.items.model_copy(update={"directory": None}),
                                        "recipe": trained.recipe.model_copy(update={"train_masks": "found"})})
    with pytest.raises(FileNotFoundError, match="found no train items"):
        ensure_item_stage(config, stage, train=False)
    ensure_item_stage(config, stage)
    assert set(found_masks(stage, "train")) == set(split_ids(config.data)["train"])
    assert set(found_masks(stage, "val")) == set(split_ids(config.data)["val"])


def test_item_sets_are_cut_once_and_cached(small_archive_val, tmp_path):
    config = item_config(small_archive_val, tmp_path, "subcomponent")
    first = load_item_study_data(config, "hlz_log")
    assert first is load_item_study_data(config, "hlz_log")
    assert len(list((tmp_path / "cache").glob("dualscan-items-*/_COMPLETE"))) == 1
    found = found_masks(config.items.directory, "val")
    assert len(found) == len(split_ids(config.data)["val"])
    summary = first.summary()
    assert summary["n_val_items"] == len(first.val) and summary["n_val_missed"] == 0


def test_a_missing_item_stage_is_named(small_archive_val, tmp_path):
    config = parse_config({"data": {"archive": small_archive_val}, "space": {"pipelines": ["subcomponent"]}})
    trial = trial_from_config(config, {"pipeline": "subcomponent", "backbone": "resnet18", "modality": "hlz",
                                       "k": 20, "lr": 1e-3, "batch_size": 4})
    with pytest.raises(ValueError, match=r"items\.directory is not set"):
        train_item_trial(config, trial, lambda m, s: None)


@pytest.mark.parametrize("recipe", [{}, NEW_DETECTOR, {**NEW_DETECTOR, "overview": True}])
def test_the_model_directory_of_dualscan_train_scores_a_scan_end_to_end(small_archive_val, tmp_path, recipe):
    from jobs.train import get_args_parser, main
    from models.trained import load_trained_model
    from scans.modalities import build_input

    path = tmp_path / "items.yaml"
    path.write_text(json.dumps({
        "name": "t", "data": {"archive": small_archive_val, "cache": str(tmp_path / "cache")},
        "space": {"pipelines": ["subcomponent"], "backbones": ["resnet18"], "modalities": ["hlz"],
                  "k": [20], "lr": [1e-3], "batch_size": [4]},
        "items": {"steps": 3, "batch": 2, "scale": 2, "min_item_px": 10},
        "recipe": {"steps": 2, "eval_every": 2, "tile": 32, **recipe}}))
    out = tmp_path / "model"
    assert main(get_args_parser().parse_args(["--config", str(path), "--out", str(out)])) == 0
    assert (out / "items" / "model.pt").exists() and (out / "model.pt").exists()
    model = load_trained_model(str(out), "cpu")
    assert model.item_first and model.image_size is None and model.input_modality == "hlz+hlz_log"
    assert (model.model.overview is not None) == recipe.get("overview", False)  # trained with it, kept
    archive = Archive(small_archive_val)
    scan = archive.read(archive.scan_ids[0])
    pred = model.predict([build_input(scan, model.input_modality)])[0]
    assert pred.labels.shape == scan.shape  # native pitch: segments at the scan's own pixels
    assert pred.flagged is not None and not pred.scored[0] and pred.scan_score is not None
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["item_score"] == model.item_score
    # the stage's found items: an instance map at the scan's own size for every val and test scan
    stage = ModelDirectory(str(out / "items"))
    for split in ("val", "test"):
        maps, named = stage.found(split), stage.found_classes(split)
        assert set(maps) == set(archive.ids_in_split(split)) == set(named)
        for scan_id, labels in maps.items():
            assert labels.shape == archive.read(scan_id).shape and labels.dtype.kind in "iu", scan_id
            assert len(named[scan_id]) == labels.max()  # the finder names every item it found


def test_refinding_rewrites_the_found_items_and_keeps_the_training_metrics(small_archive_val, tmp_path):
    config = item_config(small_archive_val, tmp_path, "subcomponent")
    stage = tmp_path / "items"
    (stage / "metrics.json").write_text(json.dumps({"train_seconds": 12.0, "val_recall": 1.0}))
    perfect = (stage / "found.npz").read_bytes()
    metrics = refind_items(config, str(stage))
    assert metrics["train_seconds"] == 12.0
    assert {"val_recall", "val_mask_iou", "test_recall", "test_spurious"} <= set(metrics)
    assert json.loads((stage / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    # the untrained finder's items replace the perfect ones, for every val and test scan
    assert (stage / "found.npz").read_bytes() != perfect
    ids = split_ids(config.data, Archive(config.data.archive))
    assert set(found_masks(str(stage), "val")) == set(ids["val"])
    assert set(found_masks(str(stage), "test")) == set(ids["test"])


def test_a_half_written_item_stage_is_not_taken_for_a_trained_one(small_archive_val, tmp_path):
    config = item_config(small_archive_val, tmp_path, "subcomponent")
    untrained = config.model_copy(update={"items": config.items.model_copy(update={"directory": None})})
    stage = tmp_path / "items"
    assert ensure_item_stage(untrained, str(stage), train=False).items.directory == str(stage)
    (stage / "metrics.json").unlink()  # a stage cut short before its last file
    with pytest.raises(FileNotFoundError, match="no trained item stage"):
        ensure_item_stage(untrained, str(stage), train=False)


def test_the_stage_config_reaches_the_finder_it_builds():
    config = parse_config({"name": "t", "data": {"archive": "unused"},
                           "space": {"pipelines": ["subcomponent"]},
                           "items": {"peak_relative": 0.25, "center_loss": "focal", "item_threshold": 0.3}})
    finder = build_finder(finder_spec(config.items))
    assert finder.peak_relative == 0.25 and finder.center_loss == "focal" and finder.item_threshold == 0.3
    with pytest.raises(ValueError, match="peak_relative"):
        parse_config({"name": "t", "data": {"archive": "unused"}, "items": {"peak_relative": 1.5}})


def test_recipe_test_views_reach_the_pool_model_and_spare_the_crop_mode():
    config = parse_config({"name": "t", "data": {"archive": "unused"},
                           "space": {"pipelines": ["subcomponent"], "modes": ["pool", "crop"]},
                           "recipe": {"test_views": 8}})
    choices = {"pipeline": "subcomponent", "backbone": "resnet18", "modality": "hlz_log", "k": 30}
    pool = trial_from_config(config, {**choices, "mode": "pool"})
    assert pool.test_views == 8 and PIPELINES["subcomponent"].build(pool).test_views == 8
    crop = trial_from_config(config, {**choices, "mode": "crop"})
    assert crop.test_views == 1  # the crop mode has no dense features to average
    viewing = parse_config({"name": "t", "data": {"archive": "unused"},
                            "space": {"pipelines": ["subcomponent"]}, "recipe": {"overview": True}})
    spec = trial_from_config(viewing, {**choices, "mode": "pool"})
    assert spec.overview and PIPELINES["subcomponent"].build(spec).overview is not None
    with pytest.raises(ValueError, match=r"recipe\.overview"):
        parse_config({"name": "t", "data": {"archive": "unused"},
                      "space": {"pipelines": ["subcomponent"], "modes": ["crop"]},
                      "recipe": {"overview": True}})


def test_epochs_are_ranked_on_one_view_and_the_end_is_scored_with_every_view(small_archive_val, tmp_path,
                                                                            monkeypatch):
    from models.subcomponent.items import ItemSubcomponentModel

    config = item_config(small_archive_val, tmp_path, "subcomponent", test_views=4)
    trial = trial_from_config(config, {"pipeline": "subcomponent", "backbone": "resnet18", "modality": "hlz",
                                       "k": 20, "lr": 1e-3, "batch_size": 4})
    seen: list[tuple[int, int]] = []  # (epoch reports so far, views) of every item scored in eval mode
    dense_features = ItemSubcomponentModel.dense_features

    def recorded(model, images):
        if not model.training:
            seen.append((len(reported), model.test_views))
        return dense_features(model, images)

    monkeypatch.setattr(ItemSubcomponentModel, "dense_features", recorded)
    reported = []
    train_item_trial(config, trial, lambda metrics, state: reported.append(metrics))
    data = load_item_study_data(config, "hlz")
    views = [v for _, v in seen]
    ends = [epoch for epoch, v in seen if v == 4]
    # mining and every epoch's val pass saw one view (val's items at least once per epoch); the
    # end, after the last val pass, scored val again, test and the true items on four, last
    assert views.count(1) >= 2 * len(data.val) and set(ends) == {1}
    assert views[-len(ends):] == [4] * len(ends) == [4] * (2 * len(data.val) + 2 * len(data.test))
    assert math.isfinite(reported[-1]["test_object_auroc"])
