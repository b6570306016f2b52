"""Synthesis: deterministic bytes whatever the worker count, splits, labels, previews."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from scans.archive import Archive
from scans.synth import SynthConfig, split_of, synth_scan, synthesise


def _digest(root: str) -> dict[str, str]:
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.mark.slow
def test_same_arguments_give_the_same_bytes_whatever_the_workers(tmp_path):
    config = SynthConfig(n=5, size=64, seed=9)
    synthesise(config, str(tmp_path / "one"), workers=1, progress=False)
    synthesise(config, str(tmp_path / "two"), workers=2, progress=False)
    one, two = _digest(tmp_path / "one"), _digest(tmp_path / "two")
    assert one == two and len(one) == 2 + 5 + 5
    synthesise(SynthConfig(n=5, size=64, seed=10), str(tmp_path / "other"), workers=1, progress=False)
    assert _digest(tmp_path / "other")["scans/scan_000000.npz"] != one["scans/scan_000000.npz"]


def test_splits_have_exact_fractions():
    config = SynthConfig(n=100, split=0.7, val=0.1, seed=4)
    splits = [split_of(config, i) for i in range(100)]
    assert splits.count("train") == 60 and splits.count("val") == 10 and splits.count("test") == 30


def test_synthetic_scans_hold_physical_values_and_labels():
    scan = synth_scan(SynthConfig(size=96, seed=5, anomaly_rate=1.0, min_items=2), 0)
    assert scan.high.dtype == np.float32 and scan.high.shape == (96, 96)
    assert scan.high.min() > 0 and scan.high.max() <= 1
    assert (scan.low <= scan.high + 0.02).mean() > 0.99  # low attenuates more, up to noise
    assert scan.pseudo.dtype == np.uint8 and scan.pseudo.shape == (96, 96, 3)
    assert scan.n_objects >= 2 and scan.is_anomalous
    assert scan.anomaly.any() and scan.parts.max() > scan.n_objects


def test_invalid_config_names_the_field():
    with pytest.raises(ValueError, match=r"anomaly_rate=1\.5"):
        SynthConfig(anomaly_rate=1.5)
    with pytest.raises(ValueError, match=r"val=0\.9"):
        SynthConfig(split=0.7, val=0.9)


def test_archive_of_the_session_fixture_reads_back(small_archive):
    archive = Archive(small_archive)
    assert len(archive) == 6
    assert archive.info["generator"] == "dualscan-synth"


def test_pitch_sets_the_field_and_physical_sizes_stay(tmp_path):
    default = SynthConfig(size=128)
    assert default.resolved_pitch_mm == pytest.approx(500 / 128) and default.field_cm == pytest.approx(50)
    fine = SynthConfig(size=128, pitch_mm=1.0, anomaly_rate=1.0, min_items=1, max_items=1, seed=2)
    assert fine.field_cm == pytest.approx(12.8)
    coarse = SynthConfig(size=64, pitch_mm=2.0, anomaly_rate=1.0, min_items=1, max_items=1, seed=2)
    # the same scene seen at two pitches: the same item and anomaly areas in mm², to sampling error
    a, b = synth_scan(fine, 0), synth_scan(coarse, 0)
    assert (a.objects > 0).sum() * 1.0 == pytest.approx((b.objects > 0).sum() * 4.0, rel=0.1)
    assert a.anomaly.sum() * 1.0 == pytest.approx(b.anomaly.sum() * 4.0, rel=0.25)
    with pytest.raises(ValueError, match="pitch_mm"):
        SynthConfig(pitch_mm=0.0)
    synthesise(SynthConfig(n=2, size=32, pitch_mm=1.5, previews=False), str(tmp_path / "a"), workers=1,
               progress=False)
    archive = Archive(str(tmp_path / "a"))
    assert archive.info["pitch_mm"] == 1.5 and archive.info["config"]["pitch_mm"] == 1.5


def test_default_splits_are_60_10_30_and_kinds_options_hold():
    splits = [split_of(SynthConfig(n=100), i) for i in range(100)]
    assert (splits.count("train"), splits.count("val"), splits.count("test")) == (60, 10, 30)
    config = SynthConfig(size=96, seed=4, anomaly_rate=1.0, min_items=3, max_items=3,
                         anomaly_kinds=("metal_plate",), anomaly_scale=2.0)
    scan = synth_scan(config, 0)
    assert set(scan.object_anomaly_kind.tolist()) == {"metal_plate"}
    small = synth_scan(SynthConfig(size=96, seed=4, anomaly_rate=1.0, min_items=3, max_items=3,
                                   anomaly_kinds=("metal_plate",)), 0)
    assert scan.anomaly.sum() > 2 * small.anomaly.sum()  # twice the sides: about four times the area
    with pytest.raises(ValueError, match="unknown kind 'gun'"):
        SynthConfig(anomaly_kinds=("gun",))


def test_aligned_anomalies_come_from_the_command_line_into_the_archive(tmp_path):
    from jobs.synth import get_args_parser, main

    out = tmp_path / "aligned"
    args = get_args_parser().parse_args(["--out", str(out), "--n", "2", "--size", "64", "--workers", "1",
                                         "--no-previews", "--quiet", "--aligned-anomalies"])
    assert main(args) == 0
    assert Archive(str(out)).info["config"]["anomaly_aligned"] is True
    free = synth_scan(SynthConfig(size=96, seed=4, anomaly_rate=1.0), 0)
    aligned = synth_scan(SynthConfig(size=96, seed=4, anomaly_rate=1.0, anomaly_aligned=True), 0)
    # the same scene but for the anomalies' angles
    assert free.object_anomaly_kind.tolist() == aligned.object_anomaly_kind.tolist()
    assert np.array_equal(free.objects > 0, aligned.objects > 0)


def test_only_some_splits_are_the_same_scans_as_in_the_whole_archive(tmp_path):
    config = SynthConfig(n=10, size=48, seed=3, previews=False)
    whole = synthesise(config, str(tmp_path / "whole"), workers=1, progress=False)
    part = synthesise(config, str(tmp_path / "part"), workers=1, progress=False, only_splits=("test",))
    test_ids = [scan_id for scan_id, split in zip(Archive(whole.uri).manifest.column("scan_id").to_pylist(),
                                                  Archive(whole.uri).manifest.column("split").to_pylist(),
                                                  strict=True) if split == "test"]
    assert Archive(part.uri).ids_in_split("test") == test_ids and len(Archive(part.uri)) == len(test_ids) == 3
    digests = _digest(tmp_path / "whole")
    assert {k: v for k, v in _digest(tmp_path / "part").items() if k.startswith("scans/")} == {
        f"scans/{i}.npz": digests[f"scans/{i}.npz"] for i in test_ids}
    with pytest.raises(ValueError, match="tset is not a split; known: train, val, test"):
        synthesise(config, str(tmp_path / "typo"), progress=False, only_splits=("tset",))
