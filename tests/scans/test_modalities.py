"""Modalities: channel counts, value ranges, derived channels, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from scans.archive import Archive
from scans.modalities import (
    ATTENUATION_SCALE,
    MIN_TRANSMISSION,
    MODALITIES,
    ModalityError,
    attenuation,
    build_input,
    modality_channels,
    modality_needs_raw,
    parse_modality,
    scan_picture,
)
from scans.record import Scan

EXPECTED_CHANNELS = {"pseudo": 3, "high": 1, "low": 1, "zeff": 1, "hlz": 3, "high_log": 1, "low_log": 1,
                     "hlz_log": 3}


@pytest.fixture(scope="module")
def scan(small_archive) -> Scan:
    archive = Archive(small_archive)
    return archive.read(archive.scan_ids[0])


@pytest.mark.parametrize("name", list(MODALITIES))
def test_channel_counts_and_ranges(scan, name):
    x = build_input(scan, name)
    assert x.dtype == np.float32 and x.shape == (EXPECTED_CHANNELS[name], *scan.shape)
    # attenuation −ln T / 4 is 0 in air and reaches 2.3 at the detector floor; the rest are in [0, 1]
    top = -np.log(MIN_TRANSMISSION) / ATTENUATION_SCALE + 1e-6 if "log" in name else 1.0
    assert x.min() >= 0.0 and x.max() <= top
    assert modality_channels(name) == EXPECTED_CHANNELS[name]


def test_attenuation_is_additive_where_transmission_multiplies():
    t1, t2 = np.float32(0.6), np.float32(0.3)
    assert attenuation(np.array([t1 * t2]))[0] == pytest.approx(attenuation(np.array([t1]))[0]
                                                                + attenuation(np.array([t2]))[0], rel=1e-5)
    assert attenuation(np.array([1.0]))[0] == 0.0
    assert attenuation(np.array([0.0]))[0] == pytest.approx(-np.log(MIN_TRANSMISSION) / ATTENUATION_SCALE)


def test_combinations_concatenate(scan):
    x = build_input(scan, "pseudo+hlz")
    assert x.shape == (6, *scan.shape) and modality_channels("pseudo+hlz") == 6
    np.testing.assert_array_equal(x[:3], build_input(scan, "pseudo"))
    np.testing.assert_array_equal(x[3:], build_input(scan, "hlz"))


def test_zeff_and_pseudo_are_derived_when_absent_by_the_calibration_the_scan_names(scan):
    simulator = {"zeff_calibration": "simulator"}
    bare = Scan(scan.scan_id, high=scan.high, low=scan.low,
                meta={"pitch_mm": scan.meta["pitch_mm"], **simulator})
    derived = build_input(bare, "zeff")
    stored = build_input(scan, "zeff")
    assert np.abs(derived - stored).mean() < 0.01  # the pitch known: the same smoothing in mm
    unknown = build_input(Scan(scan.scan_id, high=scan.high, low=scan.low, meta=simulator), "zeff")
    assert np.abs(unknown - stored).mean() > np.abs(derived - stored).mean()  # 1 px, not the mm window
    assert build_input(bare, "pseudo").shape == (3, *scan.shape)
    unnamed = Scan(scan.scan_id, high=scan.high, low=scan.low)  # no calibration: no Z, no pseudo-colour
    for name in ("zeff", "hlz", "pseudo"):
        with pytest.raises(ModalityError, match="no Z_eff calibration was given for its scanner"):
            build_input(unnamed, name)
    assert scan_picture(unnamed).shape == (*scan.shape, 3)  # shown as high energy in grey
    assert (scan_picture(unnamed)[..., 0] == scan_picture(unnamed)[..., 1]).all()


def test_raw_channel_of_a_pseudo_only_scan_is_a_clear_error(scan):
    only = Scan("p1", pseudo=scan.pseudo)
    assert build_input(only, "pseudo").shape[0] == 3
    for name in ("high", "low", "zeff", "hlz"):
        assert modality_needs_raw(name)
        with pytest.raises(ModalityError, match=f"'{name}' needs the raw high/low.*'p1'"):
            build_input(only, name)


def test_unknown_modality_lists_the_valid_ones():
    with pytest.raises(ModalityError, match=r"unknown modality 'xray'.*valid: pseudo, high, low, zeff, hlz"):
        parse_modality("pseudo+xray")


def test_physical_channels_read_z_and_attenuation_whatever_the_scaling():
    from scans.modalities import ATTENUATION_SCALE, ZEFF_SCALE, physical_channel

    image = np.stack([np.full((2, 2), 0.25), np.full((2, 2), 0.5), np.full((2, 2), 0.4)]).astype(np.float32)
    np.testing.assert_allclose(physical_channel("hlz_log", image, "zeff"), 0.4 * ZEFF_SCALE)
    attenuation = physical_channel("hlz_log", image, "high_attenuation")
    np.testing.assert_allclose(attenuation, 0.25 * ATTENUATION_SCALE)
    np.testing.assert_allclose(physical_channel("hlz", image, "high_attenuation"), -np.log(0.25), rtol=1e-6)
    assert physical_channel("pseudo", image, "zeff") is None
    stacked = np.concatenate([image, image[:1]])  # pseudo+high: the fourth channel is high
    assert physical_channel("pseudo+high", stacked, "zeff") is None
    np.testing.assert_allclose(physical_channel("pseudo+high", stacked, "high_attenuation"), -np.log(0.25),
                               rtol=1e-6)
