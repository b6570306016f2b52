"""Study config: shipped configs validate, errors name the field and list valid names."""

from __future__ import annotations

import os

import pytest

from study.config import ConfigError, load_config, parse_config
from study.points import grid_points, random_points
from study.space import param_space, scheduler
from study.train import trial_from_config

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "study", "configs")


def base(**sections) -> dict:
    return {"data": {"archive": "/data/archive"}, **sections}


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(CONFIGS) if f.endswith(".yaml")))
def test_shipped_configs_validate(name):
    config = load_config(os.path.join(CONFIGS, name))
    assert config.name == name.removesuffix(".yaml")
    grid = config.search.algorithm == "grid"
    points = grid_points(config.space) if grid else random_points(config.space, 8, seed=0)
    assert points and all(trial_from_config(config, point) for point in points)
    if grid:
        assert param_space(config)["point"]


def test_paper_grid_is_two_pipelines_three_backbones_five_modalities():
    config = load_config(os.path.join(CONFIGS, "paper.yaml"))
    points = grid_points(config.space)
    assert len(points) == 2 * 3 * 5
    assert {p["backbone"] for p in points} == {"squeezenet1_1", "vgg16", "resnet50"}
    assert {p["modality"] for p in points} == {"pseudo", "high", "low", "zeff", "hlz"}
    assert all(p["optimizer"] == "sgd" and p["lr"] == 2e-4 and p["batch_size"] == 64 for p in points)
    assert config.training.momentum == 0.9 and config.space.lam == [1e-4]
    assert config.recipe.schedule == "constant"  # the paper's plain SGD: no one-cycle


def test_item_pipelines_report_one_epoch_per_evaluation_of_the_recipe():
    config = parse_config(base(space={"pipelines": ["subcomponent", "object"]},
                               recipe={"steps": 1000, "eval_every": 300}))
    assert config.recipe.evaluations == 4 and config.epochs == 4
    with pytest.raises(ConfigError, match=r"space\.epochs: acts on whole-scan pipelines \(ssn, maskrcnn\)"):
        parse_config(base(space={"pipelines": ["subcomponent", "object"], "epochs": 3}))
    mixed = parse_config(base(space={"pipelines": ["subcomponent", "ssn"], "epochs": 9}))
    assert mixed.epochs == max(9, mixed.recipe.evaluations)


def test_grid_does_not_repeat_maskrcnn_over_ssn_only_values():
    config = parse_config(base(space={"pipelines": ["ssn", "maskrcnn"], "k": [50, 100, 200],
                                      "lam": [1e-4, 1e-3], "ssn_features": ["pixel", "paper"]}))
    points = grid_points(config.space)
    # λ only where the SSN learns: 3 K × (pixel + paper × 2 λ)
    assert sum(p["pipeline"] == "ssn" for p in points) == 9
    assert all(("lam" in p) == (p.get("ssn_feature") == "paper") for p in points)
    assert [p for p in points if p["pipeline"] == "maskrcnn"] == [
        {"pipeline": "maskrcnn", "backbone": "resnet18", "modality": "pseudo", "optimizer": "sgd", "lr": 2e-4,
         "batch_size": 64}]  # no superpixel knob at all
    items = parse_config(base(space={"pipelines": ["subcomponent", "object"], "k": [100, 300],
                                     "anomaly_fractions": [0.25, 0.5]}))
    points = grid_points(items.space)
    assert sum(p["pipeline"] == "subcomponent" for p in points) == 4
    assert sum(p["pipeline"] == "object" for p in points) == 1


@pytest.mark.parametrize(("section", "value", "message"), [
    ("space", {"backbones": ["resnet99"]}, "unknown backbone 'resnet99'; valid: squeezenet1_1"),
    ("space", {"pipelines": ["yolo"]},
     "space.pipelines: unknown pipeline 'yolo'; valid: subcomponent, object, ssn, maskrcnn"),
    ("space", {"modalities": ["xray"]}, "space.modalities: unknown modality 'xray'"),
    ("space", {"ssn_features": ["sift"]}, "unknown SSN feature extractor 'sift'; valid: pixel"),
    ("space", {"modes": ["slice"]}, "space.modes: unknown classification mode 'slice'; valid: crop, pool"),
    ("space", {"k": {"low": 10, "high": 5}}, "space.k"),
    ("search", {"algorithm": "bayes"}, "search.algorithm: Input should be 'grid', 'optuna' or 'random'"),
    ("objective", {"metric": "object_f2"}, "objective.metric: unknown metric 'object_f2'"),
    ("resources", {"gpu": -1}, "resources.gpu"),
    ("space", {"epochs": 0}, "space.epochs"),
    ("space", {"anomaly_fractions": [1.0]},
     "space.anomaly_fractions: must list at least one value, each in [0, 1)"),
    ("space", {"pipelines": ["subcomponent"], "backbones": ["squeezenet1_1"]},
     "squeezenet1_1 has no dense (U-Net) encoder for the subcomponent pipeline's pool mode"),
    ("items", {"finder": "yolo"}, "items.finder: unknown item finder 'yolo'; valid: unet, maskrcnn"),
    ("items", {"encoder": "efficientnet-b0"}, "items.encoder: unknown finder encoder 'efficientnet-b0'"),
    ("items", {"finder": "maskrcnn", "peak_relative": 0.2},
     "peak_relative act only on the unet finder, not 'maskrcnn'"),
    ("items", {"finder": "maskrcnn", "item_threshold": 0.3},
     "item_threshold act only on the unet finder, not 'maskrcnn'"),
    ("items", {"finder": "maskrcnn", "center_loss": "focal"},
     "center_loss act only on the unet finder, not 'maskrcnn'"),
    ("items", {"center_loss": "l1"}, "items.center_loss: Input should be 'squared' or 'focal'"),
    ("items", {"finder": "maskrcnn", "center": "body"}, "center act only on the unet finder, not 'maskrcnn'"),
    ("items", {"center": "middle"}, "items.center: Input should be 'centroid' or 'body'"),
    ("tracking", {"mlflow": "https://user:secret@mlflow.example.com"},
     "tracking.mlflow: must not hold credentials; set MLFLOW_TRACKING_USERNAME"),
    ("recipe", {"positive": 0.8, "hard": 0.4}, "positive (0.8) + hard (0.4) must not exceed 1"),
    ("recipe", {"test_views": 4}, "recipe.test_views: averages the dense features of the subcomponent"),
    ("recipe", {"test_views": 3}, "recipe.test_views: Input should be 1, 4 or 8"),
    ("recipe", {"item_scores": ["mean"]},
     "recipe.item_scores: unknown item score rule 'mean'; valid: max"),
])
def test_errors_name_the_field(section, value, message):
    with pytest.raises(ConfigError) as err:
        parse_config(base(**{section: value}), "study.yaml")
    assert str(err.value).startswith("study.yaml: ")
    assert message in str(err.value)


def test_unknown_keys_and_grid_ranges_are_refused():
    with pytest.raises(ConfigError, match=r"space\.backbone: Extra inputs are not permitted"):
        parse_config(base(space={"backbone": ["tiny"]}))
    with pytest.raises(ConfigError, match=r"space\.lr: a grid search needs a list"):
        parse_config(base(space={"lr": {"low": 1e-4, "high": 1e-2}}))
    with pytest.raises(ConfigError, match=r"data\.archive: Field required"):
        parse_config({"data": {}})


def test_yaml_file_errors_and_overrides(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(str(tmp_path / "missing.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(broken))
    good = tmp_path / "good.yaml"
    good.write_text("data:\n  archive: relative/archive\nsearch:\n  algorithm: optuna\n")
    config = load_config(str(good), {"search.num_samples": 7, "resources.gpu": 0.5, "name": "x"})
    assert config.search.num_samples == 7 and config.resources.gpu == 0.5 and config.name == "x"
    assert os.path.isabs(config.data.archive)  # trials run in other working directories


def test_python_in_yaml_is_not_executed(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("data: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(evil))


def test_scheduler_and_space_follow_the_search_settings():
    config = parse_config(base(search={"algorithm": "optuna", "scheduler": "asha",
                                       "asha": {"grace_period": 2}}, space={"epochs": 6}))
    asha = scheduler(config)
    assert type(asha).__name__ == "AsyncHyperBandScheduler" and asha._max_t == 6
    assert param_space(config) == {}  # Optuna chooses each point, define-by-run (test_space.py)


@pytest.mark.parametrize(("recipe", "pipelines", "message"), [
    ({"item_input": "frame"}, ["ssn"], r"recipe\.item_input: 'frame' acts on item-first pipelines only"),
    ({"small_anomalies": True}, ["object"], r"recipe\.small_anomalies: acts on the subcomponent pipeline"),
    ({"head_holdout": 0.2}, ["object"], r"recipe\.head_holdout: acts on the subcomponent pipeline"),
    ({"head_holdout": 0.2, "item_scores": ["max"]}, ["subcomponent"], "does not list 'learned'"),
    ({"item_input": "turned"}, ["subcomponent"], r"unknown item input 'turned'; valid: masked, context"),
])
def test_item_recipe_knobs_that_cannot_act_are_refused(recipe, pipelines, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(base(space={"pipelines": pipelines}, recipe=recipe))


def test_weights_are_given_per_backbone_and_recorded_with_their_sha256(tmp_path, monkeypatch):
    import hashlib

    import torch

    from study.points import first_point
    from study.recipes import recipe_run

    monkeypatch.chdir(tmp_path)
    (tmp_path / "r50.pth").write_bytes(b"resnet50 weights")
    space = {"pipelines": ["ssn"], "backbones": ["resnet50", "vgg16"]}
    weights = {"resnet50": "r50.pth", "vgg16": "/w/vgg.pth"}
    config = parse_config(base(space=space, training={"weights": weights}))
    trials = {b: trial_from_config(config, first_point(config.space, {"backbone": b}))
              for b in space["backbones"]}
    assert trials["resnet50"].weights == str(tmp_path / "r50.pth")  # absolute: trials run elsewhere
    assert trials["vgg16"].weights == "/w/vgg.pth"
    run = recipe_run(config, trials["resnet50"], torch.device("cpu"))
    assert run["weights_sha256"] == hashlib.sha256(b"resnet50 weights").hexdigest()
    for training, message in (({"weights": "/w/one.pth"}, "training.weights: one file for 2 backbones"),
                              ({"weights": {"resnet18": "/w/r18.pth"}},
                               "training.weights.resnet18: the space does not search backbone resnet18"),
                              ({"weights": {"resnet99": "/w/x.pth"}}, "unknown backbone 'resnet99'")):
        with pytest.raises(ConfigError, match=message):
            parse_config(base(space=space, training=training))
