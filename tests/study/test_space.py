"""Every searched knob acts: a trial chooses only the knobs its pipeline reads, a config that sets a
knob no trial reads is refused naming it, and changing each knob changes what a trial computes."""

from __future__ import annotations

import optuna
import pytest
import torch
from ray.tune.utils.util import unflatten_dict

from models.catalog import PIPELINES, SSN_FEATURES
from models.ssn.losses import reconstruction_target
from study.config import ConfigError, parse_config
from study.items.train import build_item_optimizer
from study.items.trial import recipe_of
from study.pipelines import PIPELINES as TRAINED
from study.points import first_point, grid_points, random_points
from study.space import optuna_point
from study.train import train, trial_from_config

SUPERPIXEL_KNOBS = {"k", "lam", "ssn_feature", "mode", "anomaly_fraction"}


def base(space: dict, **sections) -> dict:
    return {"data": {"archive": "/data/archive", **sections.pop("data", {})}, "space": space, **sections}


@pytest.mark.parametrize(("space", "sections", "message"), [
    ({"pipelines": ["ssn"], "lam": [1e-3]}, {},
     "space.lam: λ weighs the SSN's compactness loss, which trains only SSN features with parameters"),
    ({"pipelines": ["ssn"], "lam": [1e-3], "ssn_features": ["pixel"]}, {},
     "space.ssn_features has pixel only"),
    ({"pipelines": ["object", "maskrcnn"], "k": [100]}, {},
     "space.k: acts only on pipelines with superpixels (subcomponent, ssn); space.pipelines has object, "
     "maskrcnn"),
    ({"pipelines": ["maskrcnn"], "modes": ["crop"]}, {},
     "space.modes: acts only on pipelines with superpixels"),
    ({"pipelines": ["ssn"], "optimizers": ["adam"]}, {"training": {"momentum": 0.5}},
     "training.momentum: acts on the sgd optimizer only"),
    ({"pipelines": ["subcomponent"]}, {"training": {"momentum": 0.9}},
     "training.momentum: acts on the sgd optimizer only, which no trial uses (optimizers: adamw)"),
    ({"pipelines": ["ssn"]}, {"training": {"crops_per_image": 4}},
     "training.crops_per_image: acts on the crop mode"),
    ({"pipelines": ["ssn", "maskrcnn"]}, {"recipe": {"steps": 10}},
     "recipe.steps: acts on item-first pipelines (subcomponent, object) only; space.pipelines has ssn, "
     "maskrcnn"),
    ({"pipelines": ["ssn"]}, {"items": {"finder": "maskrcnn"}}, "items.finder: acts on item-first pipelines"),
    ({"pipelines": ["subcomponent"]}, {"data": {"image_size": 64}},
     "data.image_size: acts on whole-scan pipelines"),
    ({"pipelines": ["subcomponent"], "backbones": ["squeezenet1_1"], "modes": ["pool"]}, {},
     "squeezenet1_1 has no dense (U-Net) encoder for the subcomponent pipeline's pool mode"),
])
def test_a_knob_no_trial_reads_is_refused(space, sections, message):
    with pytest.raises(ConfigError) as err:
        parse_config(base(space, **sections), "study.yaml")
    assert str(err.value).startswith("study.yaml: ") and message in str(err.value)


def test_squeezenet_takes_the_crop_mode_where_the_space_lists_both():
    config = parse_config(base({"pipelines": ["subcomponent"], "backbones": ["squeezenet1_1", "resnet18"],
                                "modes": ["crop", "pool"]}, training={"crops_per_image": 4}))
    assert {(p["backbone"], p["mode"]) for p in grid_points(config.space)} == {
        ("squeezenet1_1", "crop"), ("resnet18", "crop"), ("resnet18", "pool")}


MIXED = {"pipelines": ["ssn", "maskrcnn", "subcomponent", "object"],
         "backbones": ["resnet18", "squeezenet1_1"], "modalities": ["pseudo", "hlz"],
         "ssn_features": ["pixel", "paper"], "modes": ["crop", "pool"], "k": {"low": 50, "high": 400},
         "lam": {"low": 1e-6, "high": 1e-2}, "lr": {"low": 1e-4, "high": 1e-2},
         "anomaly_fractions": [0.25, 0.5], "optimizers": ["sgd", "adamw"]}


def _reads_only_its_knobs(point: dict) -> None:
    superpixels = PIPELINES.declared(point["pipeline"]).superpixels
    assert {"pipeline", "backbone", "modality", "optimizer", "lr", "batch_size"} <= set(point)
    if not superpixels:
        assert not SUPERPIXEL_KNOBS & set(point), point
        return
    assert {"k", "ssn_feature", "mode", "anomaly_fraction"} <= set(point), point
    assert ("lam" in point) == SSN_FEATURES.declared(point["ssn_feature"]).learned, point
    assert 50 <= point["k"] <= 400 and (point.get("lam") is None or 1e-6 <= point["lam"] <= 1e-2)
    if point["pipeline"] == "subcomponent" and point["backbone"] == "squeezenet1_1":
        assert point["mode"] == "crop", point


def test_random_points_choose_only_what_their_pipeline_reads():
    config = parse_config(base(MIXED, search={"algorithm": "random", "num_samples": 200},
                               training={"crops_per_image": 4, "momentum": 0.9}))
    points = random_points(config.space, 200, seed=3)
    assert points == random_points(config.space, 200, seed=3)  # seeded
    assert {p["pipeline"] for p in points} == set(MIXED["pipelines"])
    assert {p["mode"] for p in points if "mode" in p} == {"crop", "pool"}
    for point in points:
        _reads_only_its_knobs(point)
        assert trial_from_config(config, point).pipeline == point["pipeline"]


def test_optuna_defines_each_trial_by_its_pipeline():
    config = parse_config(base(MIXED, search={"algorithm": "optuna"}, training={"crops_per_image": 4}))
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=10))
    for n in range(40):  # past the start-up trials: TPE models the conditional parameters
        trial = study.ask()
        constants = optuna_point(config.space, trial)
        point = unflatten_dict({**trial.params, **constants})["point"]
        _reads_only_its_knobs(point)
        assert not any(name.startswith("point/") and name[6:] in SUPERPIXEL_KNOBS for name in trial.params
                       if not PIPELINES.declared(point["pipeline"]).superpixels)
        study.tell(trial, float(n % 7))


def test_a_fixed_knob_the_trial_would_not_read_is_refused():
    config = parse_config(base(MIXED, search={"algorithm": "optuna"}, training={"crops_per_image": 4}))
    with pytest.raises(ValueError, match="k: a object trial with these choices does not read it"):
        first_point(config.space, {"pipeline": "object", "k": 50})
    with pytest.raises(ValueError, match="lam: a ssn trial"):
        first_point(config.space, {"pipeline": "ssn", "ssn_feature": "pixel", "lam": 1e-3})
    point = first_point(config.space, {"pipeline": "ssn", "k": 77, "ssn_feature": "paper"})
    assert point["k"] == 77 and point["lam"] == 1e-6 and point["backbone"] == "resnet18"


def _built(config, **fixed) -> torch.nn.Module:
    torch.manual_seed(0)
    trial = trial_from_config(config, first_point(config.space, fixed))
    return TRAINED[trial.pipeline].build(trial)


def test_each_knob_changes_what_the_trial_computes():
    config = parse_config(base({"pipelines": ["ssn"], "backbones": ["tiny", "squeezenet1_1"],
                                "modalities": ["pseudo", "high"], "ssn_features": ["paper"], "k": [16, 64],
                                "lam": [1e-4, 10.0]}, data={"image_size": 64}))
    # the modality: the input channels
    assert _built(config, modality="pseudo").backbone.features[0].in_channels == 3
    assert _built(config, modality="high").backbone.features[0].in_channels == 1
    # the backbone: the module
    assert type(_built(config, backbone="squeezenet1_1").backbone.features[0]) is torch.nn.Conv2d
    assert (sum(p.numel() for p in _built(config, backbone="tiny").parameters())
            != sum(p.numel() for p in _built(config, backbone="squeezenet1_1").parameters()))
    images = torch.rand(1, 3, 64, 64)
    # K: how many superpixels
    with torch.no_grad():
        counts = [_built(config, k=k).eval()(images).segments.n for k in (16, 64)]
    assert counts[0] < counts[1]
    # λ: the compactness loss's weight, so the learned SSN's gradient
    parts = torch.randint(1, 5, (1, 64, 64))
    grads, totals = [], []
    for lam in (1e-4, 10.0):
        model = _built(config, lam=lam)
        loss = model.ssn.loss(model.ssn(images), reconstruction_target(parts, torch.zeros_like(parts)))
        loss.total.backward()
        totals.append(float(loss.total))
        grads.append(torch.cat([p.grad.flatten() for p in model.ssn.parameters() if p.grad is not None]))
    assert totals[1] > totals[0] and not torch.allclose(grads[0], grads[1])


def test_the_optimizer_is_the_one_the_trial_names(study_archive, tmp_path):
    items = parse_config(base({"pipelines": ["subcomponent", "object"],
                               "backbones": ["mobilenet_v3_small_050"], "optimizers": ["sgd", "adamw"]},
                              training={"momentum": 0.8}))
    for pipeline in ("subcomponent", "object"):
        for name, kind in (("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)):
            point = first_point(items.space, {"pipeline": pipeline, "optimizer": name})
            trial = trial_from_config(items, point)
            optimizer, _ = build_item_optimizer(TRAINED[pipeline].build(trial), recipe_of(items, trial))
            assert type(optimizer) is kind
            assert optimizer.defaults.get("momentum") == (0.8 if name == "sgd" else None)
    scans = parse_config({"name": "t", "storage": str(tmp_path), "data": {
        "archive": study_archive, "image_size": 32, "cache": str(tmp_path / "cache")},
        "space": {"pipelines": ["ssn"], "backbones": ["tiny"], "k": [16], "epochs": 1, "batch_size": [4],
                  "optimizers": ["sgd", "adam"]}, "training": {"crop_size": 16}})
    for name, kind, momentum in (("sgd", torch.optim.SGD, 0.9), ("adam", torch.optim.Adam, None)):
        states: list = []
        train(scans, trial_from_config(scans, first_point(scans.space, {"optimizer": name})),
              lambda metrics, state, states=states: states.append(state))
        state = states[-1]
        assert type(state.optimizer) is kind and state.optimizer.defaults.get("momentum") == momentum
        assert state.run["optimizer"] == name and state.run["momentum"] == momentum
