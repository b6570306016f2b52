"""World 2: many models per class, look-alikes of every anomaly kind, bag contents without labels,
anomalies anywhere inside an item, and splits by model or with a class held out."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scans.archive import Archive
from scans.errors import ScanFormatError
from scans.phantoms.anomalies import ANOMALIES, add_anomaly
from scans.phantoms.catalogue import MODELS_PER_CLASS, model_splits, split_of_model
from scans.phantoms.clutter import BAG_ITEMS, world2_clutter
from scans.phantoms.families import FAMILIES, unit_of
from scans.phantoms.items import ITEMS
from scans.phantoms.scene import Placement, Rasteriser
from scans.provenance import archive_record, synth_command
from scans.synth import SynthConfig, synth_scan, synthesise
from scans.validate import validate_arrays


def unit(item_class: str, model: int, seed: int):
    return unit_of(item_class, model, np.random.default_rng(seed))


def test_world_2_has_at_least_eight_classes_and_every_world_1_class():
    assert len(FAMILIES) >= 8 and set(ITEMS) <= set(FAMILIES)


@pytest.mark.parametrize("item_class", sorted(FAMILIES))
def test_units_of_one_model_differ_by_tolerances_and_models_by_layout(item_class):
    a, b = unit(item_class, 5, seed=1), unit(item_class, 5, seed=2)
    assert a.model == b.model == f"{item_class}-005"
    fixed = lambda d: [p for p in d.parts if p.name != "water"]  # noqa: E731  (water: a unit's contents)
    assert [p.name for p in fixed(a)] == [p.name for p in fixed(b)]
    centres = lambda d: np.array([(p.shape.cx, p.shape.cy) for p in fixed(d)])  # noqa: E731
    # one model: the same parts within a few mm (a unit's tolerance, 1.5 mm sd)
    shift = np.abs(centres(a) - centres(b))
    assert np.median(shift) < 0.5, shift
    layouts = {tuple(p.name for p in unit(item_class, i, seed=1).parts) for i in range(12)}
    assert len(layouts) >= 4  # models differ in which parts they have and how many


@pytest.mark.parametrize("item_class", sorted(FAMILIES))
def test_every_model_carries_a_look_alike_of_every_anomaly_kind(item_class):
    for model in (0, 17, 41):
        design = unit(item_class, model, seed=0)
        carried = {p.looks_like for p in design.parts if p.labelled or p.looks_like}
        assert set(ANOMALIES) <= carried, (design.model, set(ANOMALIES) - carried)
        assert not any(p.anomaly for p in design.parts)


@pytest.mark.parametrize("size", [256, 512])
def test_every_class_renders_with_labelled_parts(size):
    for item_class in sorted(FAMILIES):
        config = SynthConfig(n=1, size=size, seed=3, item_classes=(item_class,), min_items=1, max_items=1,
                             anomaly_rate=0.0, previews=False, split=1.0, val=0.0)
        scan = synth_scan(config, 0)
        assert list(scan.object_class) == [item_class] and scan.object_model[0].startswith(item_class)
        item = scan.objects == 1
        assert item.sum() > 0.002 * size * size, item_class  # the item is there, at its size
        assert len(np.unique(scan.parts[item])) >= 5, item_class  # and its parts are labelled


def test_the_catalogue_is_the_same_in_every_archive_and_its_splits_are_fixed_by_id():
    assert model_splits("laptop") == model_splits("laptop")
    shares = {split: len(ids) for split, ids in model_splits("laptop").items()}
    assert shares == {"train": 42, "val": 6, "test": 12} and sum(shares.values()) == MODELS_PER_CLASS
    every = [i for ids in model_splits("kettle").values() for i in ids]
    assert sorted(every) == list(range(MODELS_PER_CLASS))
    assert model_splits("laptop") != model_splits("kettle")  # each class its own draw
    assert split_of_model("laptop", model_splits("laptop")["test"][0]) == "test"


def models_of(archive: Archive) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"train": set(), "val": set(), "test": set()}
    for scan_id in archive.scan_ids:
        scan = archive.read(scan_id)
        out[scan.split] |= set(scan.object_model.tolist())
    return out


def test_split_by_model_keeps_val_and_test_models_out_of_train_in_any_archive(tmp_path):
    seen = {}
    for seed in (1, 2):
        config = SynthConfig(n=40, size=64, seed=seed, previews=False)
        assert config.world == 2 and config.split_by == "model"  # world 2's defaults
        archive = Archive(str(synthesise(config, str(tmp_path / f"s{seed}"), workers=1, progress=False).uri))
        seen[seed] = models_of(archive)
        assert seen[seed]["train"] and seen[seed]["test"]
        assert not seen[seed]["train"] & (seen[seed]["val"] | seen[seed]["test"])
        recorded = archive.info["models_by_split"]
        assert archive_record(archive)["train_models"] == recorded["train"]  # what training keeps
        for split, names in seen[seed].items():
            for name in names:
                item_class, index = name.rsplit("-", 1)
                assert int(index) in recorded[split][item_class]
    # trained on one seed's archive, a model has never seen another seed's test models
    assert not seen[1]["train"] & seen[2]["test"] and not seen[2]["train"] & seen[1]["test"]


def test_split_by_scan_mixes_models_across_splits(tmp_path):
    config = SynthConfig(n=60, size=64, seed=1, previews=False, split_by="scan", item_classes=("mobile",))
    archive = Archive(str(synthesise(config, str(tmp_path / "a"), workers=1, progress=False).uri))
    seen = models_of(archive)
    assert seen["train"] & seen["test"]
    assert "models_by_split" not in archive.info


def test_a_held_out_class_appears_only_in_test(tmp_path):
    config = SynthConfig(n=40, size=64, seed=4, previews=False, hold_out_class="kettle", max_items=3)
    archive = Archive(str(synthesise(config, str(tmp_path / "a"), workers=1, progress=False).uri))
    where = {"train": set(), "val": set(), "test": set()}
    for scan_id in archive.scan_ids:
        scan = archive.read(scan_id)
        where[scan.split] |= set(scan.object_class.tolist())
    assert "kettle" in where["test"] and "kettle" not in where["train"] | where["val"]
    assert len(where["train"]) > 3


def test_bad_world_settings_are_refused_naming_the_field():
    with pytest.raises(ValueError, match="split_by='model' needs a world of many models"):
        SynthConfig(world=1, split_by="model")
    with pytest.raises(ValueError, match="world=3 is not a world"):
        SynthConfig(world=3)
    with pytest.raises(ValueError, match="item_classes: world 1 has no class 'kettle'"):
        SynthConfig(world=1, item_classes=("kettle",))
    with pytest.raises(ValueError, match="hold_out_class 'toaster' is not among the classes drawn"):
        SynthConfig(hold_out_class="toaster", item_classes=("laptop", "mobile"))
    assert SynthConfig(world=1).split_by == "scan"


def test_anomalies_land_anywhere_inside_the_item_not_only_in_the_old_hiding_places():
    outside = 0
    for i in range(60):
        rng = np.random.default_rng(i)
        old = ITEMS["laptop"](np.random.default_rng(i))  # world 1's hiding places for a laptop
        design = unit("laptop", i % MODELS_PER_CLASS, seed=i)
        add_anomaly(rng, design, kind="metal_plate")
        plate = design.parts[-1].shape
        inside_item = abs(plate.cx) < design.width / 2 and abs(plate.cy) < design.height / 2
        assert inside_item, (plate.cx, plate.cy, design.width, design.height)
        in_hideout = any(abs(plate.cx - cx) <= w / 2 and abs(plate.cy - cy) <= h / 2
                         for cx, cy, w, h in old.hideouts)
        outside += not in_hideout
    assert outside >= 15  # world 1 put every one of them in a hideout


def test_bag_contents_carry_mass_and_no_labels():
    rng = np.random.default_rng(0)
    parts = []
    for _ in range(20):
        parts += world2_clutter(rng, 50.0, 50.0)
    assert not any(p.labelled or p.anomaly for p in parts)
    names = {p.name for p in parts}
    assert {"shoe_shank", "buckle", "key", "coin", "charger", "umbrella_rib", "book"} <= names, names
    raster = Rasteriser(128, 128, 50.0 / 128)
    centre = Placement(None, 64, 64, 0.0)
    for part in world2_clutter(np.random.default_rng(5), 50.0, 50.0):
        raster.draw(part, centre)
    assert raster.areal.sum() > 0 and not raster.objects.any() and not raster.parts.any()
    assert len(BAG_ITEMS) >= 8


def test_object_model_is_checked_as_an_optional_item_label():
    scan = synth_scan(SynthConfig(n=2, size=64, seed=0, previews=False), 0)
    arrays = scan.arrays()
    validate_arrays(arrays, "ok.npz")
    arrays["object_model"] = arrays["object_model"][:-1] if len(arrays["object_model"]) else np.array(["x"])
    with pytest.raises(ScanFormatError, match="'object_model' has"):
        validate_arrays(arrays, "bad.npz")


def test_the_command_that_made_an_archive_names_its_world():
    old = {"generator": "dualscan-synth", "config": {"n": 10, "size": 64, "seed": 1}}  # before worlds
    assert "--world 1" in synth_command(old) and "--split-by" not in synth_command(old)
    new = json.loads(json.dumps({"generator": "dualscan-synth",
                                 "config": SynthConfig(n=10, size=64, seed=1).model_dump(mode="json")}))
    assert "--world" not in synth_command(new) and "--split-by" not in synth_command(new)
    held = {"config": {**new["config"], "hold_out_class": "kettle", "split_by": "scan"}}
    assert "--hold-out-class kettle" in synth_command(held) and "--split-by scan" in synth_command(held)
