"""The physics is held to known facts: attenuation, beam hardening, calibrated Z, colours."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from scans.physics import (
    IMPENETRABLE_T,
    REFERENCE_PITCH_MM,
    DetectorNoise,
    detector_response,
    effective_z,
    get_material,
    hue_for_z,
    render_pseudo_colour,
    transmissions,
)
from scans.physics.colour import INORGANIC, METAL, ORGANIC
from scans.physics.materials import MATERIALS


def slab(material: str, thickness_cm: float) -> tuple[float, float]:
    """Noise-free (T_low, T_high) of a uniform slab."""
    areal = np.array([[get_material(material).density * thickness_cm]], dtype=np.float32)
    low, high = transmissions(areal, (material,))
    return float(low[0]), float(high[0])


def test_channel_mean_energies_match_a_baggage_scanner():
    low, high = detector_response().mean_energies_kev
    assert 50 < low < 70
    assert 85 < high < 105


@pytest.mark.parametrize("material", sorted(MATERIALS))
def test_transmission_falls_with_thickness_and_low_attenuates_more(material):
    pairs = [slab(material, t) for t in (0.01, 0.1, 0.5, 1.0, 3.0)]
    lows, highs = np.array(pairs).T
    assert np.all(np.diff(highs) < 0) and np.all(np.diff(lows) < 0)
    assert np.all((highs > 0) & (highs <= 1)) and np.all((lows > 0) & (lows <= 1))
    assert np.all(lows < highs), "the low channel attenuates more than the high for every material"


def test_beam_hardening_makes_attenuation_sublinear():
    # Monochromatically -ln T doubles with thickness; a polychromatic beam hardens, so it grows less.
    x1 = -np.log(slab("aluminium", 2.0)[1])
    x2 = -np.log(slab("aluminium", 4.0)[1])
    assert 1.6 < x2 / x1 < 1.99


def test_air_transmits_everything():
    low, high = transmissions(np.zeros((len(MATERIALS), 4, 5), dtype=np.float32))
    assert low.shape == (4, 5)
    assert np.all(low == 1) and np.all(high == 1)


@pytest.mark.parametrize(
    ("material", "thicknesses"),
    [
        ("water", (1.0, 5.0, 15.0)),
        ("aluminium", (0.2, 1.0, 4.0)),
        ("steel", (0.05, 0.2, 0.8)),
        ("copper", (0.05, 0.2, 0.5)),
    ],
)
def test_calibrated_z_of_pure_slabs_within_1_5(material, thicknesses):
    truth = get_material(material).z_eff
    for t in thicknesses:
        low, high = slab(material, t)
        z, impenetrable = effective_z(np.array([high]), np.array([low]))
        assert not impenetrable[0]
        assert abs(float(z[0]) - truth) <= 1.5, (material, t, float(z[0]), truth)
    assert abs(get_material("water").z_eff - 7.42) < 0.05


@pytest.mark.parametrize(("material", "thickness"), [("tnt", 3.0), ("glass", 1.0), ("nichrome", 0.2)])
def test_calibration_generalises_to_materials_outside_the_wedges(material, thickness):
    low, high = slab(material, thickness)
    z, _ = effective_z(np.array([high]), np.array([low]))
    assert abs(float(z[0]) - get_material(material).z_eff) <= 1.5


def test_impenetrable_pixels_are_flagged_not_given_a_z():
    low, high = slab("steel", 3.0)
    assert high < IMPENETRABLE_T
    z, impenetrable = effective_z(np.array([high]), np.array([low]))
    assert impenetrable[0] and z[0] == 0


def test_hue_classes_follow_the_scanner_convention():
    np.testing.assert_allclose(hue_for_z(np.array([7.0]))[0], ORGANIC)
    np.testing.assert_allclose(hue_for_z(np.array([14.0]))[0], INORGANIC)
    np.testing.assert_allclose(hue_for_z(np.array([26.0]))[0], METAL)


def _rendered_colour(material: str, thickness: float) -> np.ndarray:
    low, high = slab(material, thickness)
    z, _ = effective_z(np.array([[high]]), np.array([[low]]))
    return render_pseudo_colour(z, np.array([[high]], dtype=np.float32))[0, 0].astype(int)


@pytest.mark.parametrize("material", ["polyethylene", "water", "sucrose"])
def test_organics_render_orange(material):
    r, g, b = _rendered_colour(material, 3.0)
    assert r > g > b and r > 150


def test_aluminium_renders_green():
    r, g, b = _rendered_colour("aluminium", 1.0)
    assert g > r and g > b


def test_iron_renders_blue():
    r, g, b = _rendered_colour("steel", 0.2)
    assert b > r and b > g


def test_colour_fades_to_white_in_air_and_black_when_impenetrable():
    high = np.array([[1.0, 1e-4]], dtype=np.float32)
    rgb = render_pseudo_colour(np.array([[0.0, 0.0]]), high)
    assert rgb[0, 0].tolist() == [255, 255, 255]
    assert rgb[0, 1].tolist() == [0, 0, 0]


def test_detector_noise_is_poisson_like_per_mm2_and_quantised():
    ideal = np.full((200, 200), 0.5, dtype=np.float32)
    noise = DetectorNoise(column_gain_sigma=0.0, blur_sigma_mm=0.0, electronic_sigma=0.0)
    variances = {}
    for pitch in (1.0, 2.0):
        low, high = noise.apply(ideal, ideal, np.random.default_rng(0), pitch)
        photons_low, photons_high = noise.photons(pitch)
        # Poisson: the variance of T·I0/I0 is T/I0, with I0 the photons per mm² times the pixel area
        assert photons_high == pytest.approx(noise.photons_high_per_mm2 * pitch**2)
        assert high.var() == pytest.approx(0.5 / photons_high, rel=0.1)
        assert low.var() == pytest.approx(0.5 / photons_low, rel=0.1)
        variances[pitch] = high.var()
        assert np.allclose(high * 65535, np.round(high * 65535), atol=1e-2)
        assert high.dtype == np.float32 and high.min() > 0 and high.max() <= 1
    assert variances[1.0] / variances[2.0] == pytest.approx(4.0, rel=0.15)  # 4× the area, ¼ the variance
    at_reference = DetectorNoise().photons(REFERENCE_PITCH_MM)
    assert at_reference == pytest.approx((2.0e4, 4.0e4))  # the 256² default keeps today's photons


def test_column_gain_makes_stripes():
    rng = np.random.default_rng(1)
    ideal = np.full((400, 64), 0.5, dtype=np.float32)
    striped = DetectorNoise(photons_low_per_mm2=0, photons_high_per_mm2=0, electronic_sigma=0,
                            blur_sigma_mm=0, column_gain_sigma=0.01, quantise=False)
    _, high = striped.apply(ideal, ideal, rng)
    assert (high == high[0]).all()  # constant along each column
    assert high.mean(axis=0).std() > 0.002  # but differing between columns


def edge_width_mm(pitch_mm: float, field_mm: float = 128.0) -> float:
    """The 10–90 % width in mm of a slanted step edge seen through the detector at ``pitch_mm``:
    the edge spread function oversampled from pixels binned by their distance to the edge."""
    n = round(field_mm / pitch_mm)
    centres = (np.arange(n) + 0.5) * pitch_mm - field_mm / 2
    x, y = np.meshgrid(centres, centres)
    angle = np.deg2rad(5.0)  # slanted, so pixel centres fall at every phase across the edge
    distance = x * np.cos(angle) + y * np.sin(angle)
    ideal = np.where(distance > 0, 0.2, 1.0).astype(np.float32)
    blur_only = DetectorNoise(photons_low_per_mm2=0, photons_high_per_mm2=0, electronic_sigma=0,
                              column_gain_sigma=0, quantise=False)
    _, high = blur_only.apply(ideal, ideal, np.random.default_rng(0), pitch_mm)
    inner = np.abs(y) < field_mm / 4  # away from the image border
    bins = np.arange(-8.0, 8.0001, 0.1)
    which = np.digitize(distance[inner], bins)
    esf = np.array([high[inner][which == i].mean() for i in range(1, bins.size)])
    esf = (esf[0] - esf) / (esf[0] - esf[-1])  # 0 on the open side, 1 behind the edge
    at = (bins[:-1] + bins[1:]) / 2
    return float(np.interp(0.9, esf, at) - np.interp(0.1, esf, at))


def test_an_edge_is_equally_wide_in_mm_at_1_and_2_mm_pitch():
    fine, coarse = edge_width_mm(1.0), edge_width_mm(2.0)
    gaussian = 2 * 1.2816 * DetectorNoise().blur_sigma_mm  # 10–90 % of a Gaussian edge: 2.563 σ
    assert fine == pytest.approx(gaussian, rel=0.15)  # plus the pixel's own ±½-pixel sampling
    assert coarse == pytest.approx(fine, rel=0.1)  # a blur set in pixels would make it twice as wide


def test_physics_tables_are_built_once_per_node_then_read_without_spekpy_or_xraydb(tmp_path):
    """A fresh process builds the scanner's tables (spekpy, xraydb) into the node's cache; the next
    one reads them, imports neither, and draws the same scan to the bit."""
    probe = ("import hashlib, json, sys\n"
             "from scans.synth import SynthConfig, synth_scan\n"
             "scan = synth_scan(SynthConfig(size=48, seed=3, world=1, previews=False), 0)\n"
             "digest = hashlib.sha256(b''.join(a.tobytes() for a in scan.arrays().values())).hexdigest()\n"
             "built = sorted({'spekpy', 'xraydb'} & set(sys.modules))\n"
             "print(json.dumps({'digest': digest, 'built': built}))")
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # the node's cache: the system temp dir

    def run() -> dict:
        done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                              timeout=120, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    first, second = run(), run()
    assert first["built"] == ["spekpy", "xraydb"] and second["built"] == []
    assert first["digest"] == second["digest"]
    assert {name.split("-")[2] for name in os.listdir(tmp_path)} >= {"response", "attenuation", "zeff"}
