"""Physics pretraining: tiles from simulated scenes, a fit that learns, weights the pipeline takes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models.subcomponent.items import ItemSubcomponentModel
from scans.modalities import modality_air
from scans.phantoms.anomalies import ANOMALY_ONLY_MATERIALS
from scans.phantoms.catalogue import model_splits
from scans.physics.forward import all_materials
from scans.synth import drawn_designs, split_of
from study.pretrain import item_classes, pretext_materials, pretext_synth_config, pretext_tiles, pretrain
from study.pretrain_config import PretrainConfig

# world 1, where its curve was measured (a fit of six scenes' tiles)
TINY = PretrainConfig(size=96, scenes=6, held_out=2, tiles_per_scene=3, tile=32, steps=40, batch=8,
                      eval_every=20, lr=3e-3, world=1)


def test_tiles_are_masked_to_their_item_with_its_densities_and_class():
    tiles = pretext_tiles(TINY.model_copy(update={"context": False}), 0, 3, workers=1)
    assert len(tiles) == 9
    assert tiles.images.shape == (9, 3, 32, 32)
    assert tiles.densities.shape == (9, len(pretext_materials()), 32, 32)
    air = np.asarray(modality_air("hlz_log"), np.float16).reshape(1, -1, 1, 1)
    outside = ~tiles.masks[:, None]
    assert np.all(np.where(outside, tiles.images == air, True))  # air outside the item
    assert np.all(np.where(outside, tiles.densities == 0, True))
    assert tiles.masks.any(axis=(1, 2)).all()  # every tile is centred on its item
    inside = tiles.densities.max(axis=1)[tiles.masks]
    assert (inside > 0).mean() > 0.9  # an item's pixels hold material
    assert set(np.unique(tiles.classes)) <= set(range(len(item_classes(TINY.world))))
    again = pretext_tiles(TINY.model_copy(update={"context": False}), 0, 3, workers=2)
    assert np.array_equal(again.images, tiles.images) and np.array_equal(again.classes, tiles.classes)
    # with context (the default, as the detector's frame input sees items): the same tiles, the scan
    # around the item kept, the targets still the item's alone
    seen = pretext_tiles(TINY, 0, 3, workers=1)
    inside = np.broadcast_to(tiles.masks[:, None], tiles.images.shape)
    assert np.array_equal(seen.images[inside], tiles.images[inside])
    assert not np.all(seen.images[~inside] == np.broadcast_to(air, tiles.images.shape)[~inside])
    assert np.array_equal(seen.densities, tiles.densities) and np.array_equal(seen.masks, tiles.masks)


@pytest.mark.parametrize("world", [1, 2])
def test_pretraining_never_sees_an_anomaly_or_a_material_only_anomalies_are_made_of(world, monkeypatch):
    import study.pretrain

    seen, draw = [], study.pretrain.synth_scene
    monkeypatch.setattr(study.pretrain, "synth_scene", lambda *a: seen.append(draw(*a)) or seen[-1])
    tiles = pretext_tiles(PretrainConfig(**{**TINY.model_dump(), "world": world}), 0, 6, workers=1)
    assert len(seen) == 6 and len(tiles) == 18
    only = [all_materials().index(m) for m in ANOMALY_ONLY_MATERIALS]
    for scan, scene in seen:
        assert not scene.anomaly.any() and not np.asarray(scan.object_anomalous).any()
        assert not scene.areal_density[only].any()  # no tnt, no sucrose anywhere in the scene
    # nor among its targets: the density channels are every other material's
    assert set(pretext_materials()) == set(all_materials()) - set(ANOMALY_ONLY_MATERIALS)
    assert tiles.densities.shape[1] == len(all_materials()) - len(ANOMALY_ONLY_MATERIALS)



@pytest.mark.parametrize("world", [1, 2])
def test_the_anomaly_only_materials_are_in_anomalies_and_nowhere_else(world):
    """What pretraining keeps out is what it must: in scenes where every item hides an organic
    block, those materials lie on anomaly pixels only, and they do lie there."""
    from scans.phantoms.scene import compose_scene

    only = [all_materials().index(m) for m in ANOMALY_ONLY_MATERIALS]
    inside = 0.0
    for seed in range(6):
        scene = compose_scene(np.random.default_rng(seed), 128, 128, anomaly_rate=1.0, world=world,
                              anomaly_kinds=("organic_block",))
        planes = scene.areal_density[only].sum(axis=0)
        assert not planes[scene.anomaly == 0].any()
        inside += float(planes[scene.anomaly > 0].sum())
    assert inside > 0


def test_world_2_pretraining_draws_only_the_designs_train_holds():
    config = TINY.model_copy(update={"world": 2})
    synth = pretext_synth_config(config, 50)
    assert {split_of(synth, i) for i in range(50)} == {"train"}
    _, model_ids = drawn_designs(synth, "train")
    assert model_ids and all(ids == model_splits(c)["train"] for c, ids in model_ids.items())
    assert not any(set(ids) & set(model_splits(c)["test"]) for c, ids in model_ids.items())


def test_world_2_tiles_are_classed_among_world_2s_classes():
    tiles = pretext_tiles(PretrainConfig(**{**TINY.model_dump(), "world": 2}), 0, 3, workers=1)
    assert len(item_classes(2)) >= 8 and set(np.unique(tiles.classes)) <= set(range(len(item_classes(2))))


def test_pretraining_learns_and_its_weights_start_the_pipeline(tmp_path):
    record = pretrain(TINY, str(tmp_path), workers=1, log=lambda line: None)
    first, last = record["curve"][0], record["curve"][-1]
    assert [c["step"] for c in record["curve"]] == [20, 40]
    assert last["r2"] > 0.05 and last["mse"] < first["mse"]  # better than the mean, and improving
    saved = json.loads((tmp_path / "pretrain.json").read_text())
    assert saved["data"]["materials"] == list(pretext_materials()) and saved["config"]["seed"] == TINY.seed
    weights = torch.load(tmp_path / "weights.pt", weights_only=True)
    model = ItemSubcomponentModel(modality="hlz_log", backbone="resnet18", mode="pool", n_superpixels=20,
                                  weights=str(tmp_path / "weights.pt"))
    assert all(torch.equal(model.dense.state_dict()[k], v) for k, v in weights.items())


@pytest.mark.parametrize(("change", "message"), [
    ({"backbone": "alexnet"}, "no dense encoder"), ({"steps": 0}, "steps=0"),
    ({"tile": 8}, "tile=8"), ({"modality": "xray"}, "xray"), ({"world": 3}, "world=3 is not a world"),
])
def test_bad_settings_are_named(change, message):
    with pytest.raises((ValueError, KeyError), match=message):
        PretrainConfig(**change)


@pytest.mark.parametrize(("flags", "context"), [([], True), (["--no-context"], False)])
def test_the_command_passes_whether_tiles_keep_their_context(flags, context, monkeypatch, tmp_path):
    from jobs import pretrain as command

    seen = []

    def record(config, out, workers=None):
        seen.append(config)
        return {"curve": [{"r2": 0.5, "class_accuracy": 0.5, "step": 1}], "wall_s": 1.0}

    monkeypatch.setattr("study.pretrain.pretrain", record)
    assert command.main(command.get_args_parser().parse_args(["--out", str(tmp_path), *flags])) == 0
    assert seen[0].context is context
