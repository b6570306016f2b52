"""Phantoms: every item and anomaly builds, and scene labels are consistent with each other."""

from __future__ import annotations

import numpy as np
import pytest

from scans.phantoms.anomalies import ANOMALIES, add_anomaly
from scans.phantoms.items import ITEMS
from scans.phantoms.scene import Placement, Rasteriser, compose_scene
from scans.phantoms.shapes import Cylinder, Disc, Wire
from scans.physics.materials import get_material, material_index


@pytest.mark.parametrize("item", sorted(ITEMS))
def test_items_are_built_from_real_materials_and_metal_parts(item):
    design = ITEMS[item](np.random.default_rng(0))
    materials = {p.material for p in design.parts}
    for name in materials:
        get_material(name)
    assert any(get_material(m).z_eff > 18 for m in materials), "every item has metal parts"
    assert any(get_material(m).z_eff < 10 for m in materials) or item == "toaster"
    assert design.hideouts, "an anomaly needs somewhere to hide"


@pytest.mark.parametrize("item", sorted(ITEMS))
@pytest.mark.parametrize("anomaly", sorted(ANOMALIES))
def test_every_anomaly_hides_inside_every_item(item, anomaly):
    rng = np.random.default_rng(7)
    design = ITEMS[item](rng)
    add_anomaly(rng, design, anomaly)
    raster = Rasteriser(200, 200, 0.2)
    where = Placement(design, 100, 100, 0.3)
    for part in design.parts:
        if not part.anomaly:
            raster.draw(part, where, 1)
    footprint = raster.objects == 1
    for part in design.parts:
        if part.anomaly:
            raster.draw(part, where, 1)
    inside = footprint[raster.anomaly > 0].mean()
    assert raster.anomaly.sum() > 0
    assert inside > 0.7, f"{anomaly} in {item}: only {inside:.0%} of it lies within the item"


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(KeyError, match="valid: hairdryer, iron, laptop, mobile, toaster"):
        ITEMS["kettle"]
    with pytest.raises(KeyError, match="valid: blade"):
        add_anomaly(np.random.default_rng(0), ITEMS["iron"](np.random.default_rng(0)), "gun")


def test_thin_wires_and_screws_keep_their_mass_below_a_pixel():
    pitch = 0.25
    u, v = np.meshgrid(np.arange(-20, 20) * pitch / 4, np.arange(-20, 20) * pitch / 4)
    for shape, mass in [
        (Wire(0, 0, 0, ((-3.0, 0.0), (3.0, 0.0)), 0.05), np.pi * 0.025**2 * 6.0),
        (Disc(0, 0, 0, 0.05, 0.05, 0.5), np.pi * 0.05**2 * 0.5),
        (Cylinder(0, 0, 0, 4.0, 0.04), np.pi * 0.02**2 * 4.0),
        (Cylinder(0, 0, 0, 4.0, 0.2, hollow=0.8), np.pi * 0.1**2 * (1 - 0.64) * 4.0),
    ]:
        fine = np.meshgrid(np.linspace(-4, 4, 801), np.linspace(-4, 4, 801))
        measured = shape.path_length(*fine, pitch).sum() * (8 / 800) ** 2
        assert measured == pytest.approx(mass, rel=0.15), shape
        assert (shape.path_length(u, v, pitch) > 0).any()


def test_a_wire_on_a_turned_window_of_pixels_gives_what_each_pixel_alone_gives():
    """A wire is drawn segment by segment on the block of pixels near each: every pixel's path
    equals the path computed for that pixel alone, wherever the window lies and however it turns."""
    from scans.phantoms.shapes import helix

    wire = Wire(0.3, 0.1, 0.7, helix(4.0, 1.0, 5), 0.08)
    rng = np.random.default_rng(0)
    for _ in range(20):
        angle, pitch = rng.uniform(0, 2 * np.pi), rng.uniform(0.02, 0.2)
        dx = ((np.arange(60, dtype=np.float32) + 0.5 - rng.uniform(0, 60)) * pitch)[None, :]
        dy = ((np.arange(50, dtype=np.float32) + 0.5 - rng.uniform(0, 50)) * pitch)[:, None]
        u, v = np.cos(angle) * dx + np.sin(angle) * dy, -np.sin(angle) * dx + np.cos(angle) * dy
        drawn = wire.path_length(u, v, pitch)
        one_by_one = wire.path_length(u.reshape(-1), v.reshape(-1), pitch).reshape(u.shape)
        np.testing.assert_array_equal(drawn, one_by_one)
        assert wire.path_length(u[7, 9], v[7, 9], pitch) == drawn[7, 9]


def test_scene_labels_are_consistent():
    for seed, size in enumerate([48, 64, 96, 128, 128, 256]):
        scene = compose_scene(np.random.default_rng(seed), size, size, anomaly_rate=0.7)
        n = len(scene.object_class)
        assert len(scene.object_anomalous) == n == len(scene.anomaly_kinds)
        assert scene.objects.max() <= n and scene.objects.dtype == np.int32
        assert set(np.unique(scene.anomaly)) <= {0, 1}
        # anomaly pixels belong to anomalous items and to their own parts
        owners = set(np.unique(scene.objects[scene.anomaly > 0])) - {0}
        assert all(scene.object_anomalous[i - 1] for i in owners)
        assert (scene.parts[scene.anomaly > 0] > 0).all()
        for i, anomalous in enumerate(scene.object_anomalous, start=1):
            assert anomalous == bool(scene.anomaly[scene.objects == i].any())
        assert scene.areal_density.shape == (len(material_index()), size, size)
        assert (scene.areal_density >= 0).all()


def test_anomaly_rate_is_honoured():
    rng = np.random.default_rng(11)
    flags = [a for _ in range(60) for a in compose_scene(rng, 64, 64, anomaly_rate=0.5).object_anomalous]
    assert 0.3 < np.mean(flags) < 0.7
    rng = np.random.default_rng(12)
    scenes = [compose_scene(rng, 64, 64, anomaly_rate=0.0) for _ in range(10)]
    assert not any(a for scene in scenes for a in scene.object_anomalous)


@pytest.mark.parametrize("anomaly", sorted(ANOMALIES))
def test_aligned_anomalies_lie_along_the_items_axes_and_are_otherwise_the_same(anomaly):
    drawn = {}
    for aligned in (False, True):
        rng = np.random.default_rng(11)
        design = ITEMS["laptop"](rng)
        add_anomaly(rng, design, anomaly, aligned=aligned)
        drawn[aligned] = [p for p in design.parts if p.anomaly]
    assert len(drawn[False]) == len(drawn[True])
    for free, along in zip(drawn[False], drawn[True], strict=True):
        assert (free.name, free.material, free.shape.cx, free.shape.cy) == (along.name, along.material,
                                                                            along.shape.cx, along.shape.cy)
        assert along.shape.angle in (0.0, np.pi / 2)
        assert abs(free.shape.angle - along.shape.angle) <= np.pi / 4 or free.shape.angle > 3 * np.pi / 4


def test_wire_insulation_is_labelled_anomaly_where_it_shows():
    rng = np.random.default_rng(3)
    design = ITEMS["laptop"](rng)
    add_anomaly(rng, design, "wire_bundle")
    raster = Rasteriser(200, 200, 0.1)
    where = Placement(design, 100, 100, 0.0)
    for part in design.parts:
        if part.anomaly:
            raster.draw(part, where, 1)
    pvc = raster.areal[material_index()["pvc"]] > 0
    copper = raster.areal[material_index()["copper"]] > 0
    assert pvc.sum() > copper.sum() > 0  # the insulation is wider than its copper
    assert (raster.anomaly[pvc | copper] == 1).all()  # every pixel the bundle shows in is labelled
