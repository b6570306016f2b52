"""A lab's dual-energy exports (made here from synthetic scans) become an archive: raw values at the
given scale, Z_eff only from the scanner's calibration, items, sub-components and anomalies from COCO."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jobs.scoring.inputs import check_modality, export_settings, list_inputs
from scans.archive import Archive
from scans.errors import ScanFormatError
from scans.importers import IMPORTERS
from scans.modalities import ModalityError, build_input
from scans.physics.calibration import calibrate
from scans.zeff_calibration import load_calibration, read_calibration
from tests.exports import RAW_LEVELS, wedge_calibration, write_exports


def _measured(z: np.ndarray) -> np.ndarray:
    return z > 1.0  # air and impenetrable pixels read 0


def test_a_calibration_measured_on_wedges_gives_the_scanners_z(tmp_path, small_archive):
    wedge_calibration(str(tmp_path / "cal.json"))
    table, sha = load_calibration(str(tmp_path / "cal.json"))
    assert len(sha) == 64 and set(table.reference_z) == {"polyethylene", "aluminium", "steel", "copper"}
    scan = Archive(small_archive).read(Archive(small_archive).scan_ids[0])
    from scans.physics.calibration import effective_z

    mine, _ = effective_z(scan.high, scan.low, smooth_sigma=1.0, calibration=table)
    simulator, _ = effective_z(scan.high, scan.low, smooth_sigma=1.0, calibration=calibrate())
    both = _measured(mine) & _measured(simulator)
    assert both.mean() > 0.3
    # four measured wedges against the simulator's five computed ones: the same Z within a unit
    assert np.median(np.abs(mine[both] - simulator[both])) < 1.0


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "not JSON"),
    ('{"format": "dualscan-zeff-calibration", "version": 1, "wedges": []}',
     "wedges: List should have at least 2"),
    ('{"format": "dualscan-zeff-calibration", "version": 1, "wedges": [{"material": "a", "z": 6, '
     '"high": [0.5, 0.4, 1.2], "low": [0.4, 0.3, 0.2]}, {"material": "b", "z": 13, '
     '"high": [0.5, 0.4, 0.3], "low": [0.3, 0.2, 0.1]}]}',
     r"wedges.0: Value error, wedge 'a': high transmissions must lie in \(0, 1\)"),
    ('{"format": "other", "version": 1, "wedges": []}',
     "format: Input should be 'dualscan-zeff-calibration'"),
])
def test_a_bad_calibration_file_names_the_field(content, message):
    with pytest.raises(ScanFormatError, match=f"cal.json: {message}"):
        read_calibration(content.encode(), "cal.json")


@pytest.fixture(scope="module")
def exports(small_archive_val, tmp_path_factory) -> tuple[str, list]:
    """The val archive's scans as a lab's exports, with the scanner's calibration file beside them."""
    archive = Archive(small_archive_val)
    scans = [archive.read(i) for i in archive.scan_ids]
    folder = str(tmp_path_factory.mktemp("exports") / "lab")
    write_exports(scans, folder)
    wedge_calibration(f"{folder}/zeff_calibration.json")
    return folder, scans


def test_the_importer_reads_raw_values_at_their_scale_and_z_by_the_calibration(exports, tmp_path):
    folder, scans = exports
    report = IMPORTERS["dual-energy"](folder, str(tmp_path / "a"), anomaly_categories=("threat",),
                                      part_categories=("component",))
    assert report.written == len(scans) and not report.skipped
    archive = Archive(str(tmp_path / "a"))
    assert archive.info["parts_labelled"] is True
    for energy, (air, dark) in RAW_LEVELS.items():  # each energy at its own levels
        assert archive.info["raw_scale"][energy] == {"air": air, "dark": dark}
    assert archive.info["zeff_calibration"]["file"] == "zeff_calibration.json"
    given = Path(folder, "zeff_calibration.json").read_bytes()
    assert (tmp_path / "a" / "zeff_calibration.json").read_bytes() == given
    for original in scans:
        scan = archive.read(original.scan_id)
        for energy, (air, dark) in RAW_LEVELS.items():  # read back within a raw step (and float16)
            expected = np.clip(getattr(original, energy), 1 / 65535, 1)
            np.testing.assert_allclose(getattr(scan, energy), expected, atol=1 / (air - dark), rtol=1e-3)
        np.testing.assert_array_equal(scan.pseudo, original.pseudo)
        both = _measured(scan.zeff) & _measured(original.zeff)
        assert np.median(np.abs(scan.zeff[both] - original.zeff[both])) < 1.0
        # items and anomalies as the simulator labelled them; sub-components from the part instances
        def anomalous_items(s):  # items are ordered by size on import: compare the pixels they cover
            return np.isin(s.objects, np.flatnonzero(s.object_anomalous) + 1)

        assert sorted(scan.object_anomalous.tolist()) == sorted(original.object_anomalous.tolist())
        np.testing.assert_array_equal(anomalous_items(scan), anomalous_items(original))
        np.testing.assert_array_equal(scan.anomaly > 0, original.anomaly > 0)
        assert len(np.unique(scan.parts)) > len(np.unique(scan.objects))
        assert build_input(scan, "hlz_log").shape == (3, *original.shape)


def test_without_part_categories_or_calibration_the_archive_says_what_it_lacks(exports, tmp_path):
    folder, scans = exports
    bare = tmp_path / "bare"
    bare.mkdir()
    for path in sorted(Path(folder).iterdir()):
        if path.name != "zeff_calibration.json":
            (bare / path.name).write_bytes(path.read_bytes())
    IMPORTERS["dual-energy"](str(bare), str(tmp_path / "b"), anomaly_categories=("threat",))
    archive = Archive(str(tmp_path / "b"))
    assert archive.info["parts_labelled"] is False and "zeff_calibration" not in archive.info
    scan = archive.read(scans[0].scan_id)
    assert scan.zeff is None
    np.testing.assert_array_equal(scan.objects > 0, scans[0].objects > 0)
    with pytest.raises(ModalityError, match="no Z_eff calibration was given"):
        build_input(scan, "zeff")
    assert build_input(scan, "high_log").shape[0] == 1


def test_raw_exports_without_pseudo_colour_import_and_the_importer_refuses_what_it_cannot_read(
        small_archive_val, tmp_path):
    archive = Archive(small_archive_val)
    scans = [archive.read(i) for i in archive.scan_ids[:2]]
    folder = write_exports(scans, str(tmp_path / "raw"), with_pseudo=False)
    (tmp_path / "raw" / f"{scans[1].scan_id}_low.png").unlink()
    Image.fromarray(np.full((32, 32), 9, np.uint8)).save(f"{folder}/grey.png")
    report = IMPORTERS["dual-energy"](folder, str(tmp_path / "c"), anomaly_categories=("threat",),
                                      zeff_calibration="simulator")
    skipped = {s["file"].rsplit("/", 1)[-1]: s["error"] for s in report.skipped}
    assert report.written == 1
    assert "raw pair incomplete" in skipped[f"{scans[1].scan_id}_high.tif"]
    assert "a grey (L) image is not pseudo-colour" in skipped["grey.png"]
    imported = Archive(str(tmp_path / "c")).read(scans[0].scan_id)
    assert imported.pseudo is None and imported.zeff is not None and imported.object_anomalous is not None
    assert (tmp_path / "c" / "previews" / f"{scans[0].scan_id}.png").exists()


def test_a_folder_of_raw_exports_is_scored_for_z_only_with_a_calibration(exports, tmp_path):
    folder, _ = exports
    root, inputs = list_inputs(folder)
    assert {i.roles for i in inputs} == {("pseudo", "high", "low")}
    without = tmp_path / "nocal"
    without.mkdir()
    for name in ("annotations.json", "raw_scale.json"):
        (without / name).write_bytes(Path(folder, name).read_bytes())
    for item in inputs[:2]:
        for path in item.paths:
            (without / Path(path).name).write_bytes(Path(path).read_bytes())
    bare_root, bare_inputs = list_inputs(str(without))
    with pytest.raises(ModalityError, match="no X_zeff images and no Z_eff calibration was given"):
        check_modality(bare_root, bare_inputs, "hlz_log", settings=export_settings(bare_root))
    check_modality(bare_root, bare_inputs, "high_log", settings=export_settings(bare_root))
    check_modality(root, inputs, "hlz_log", settings=export_settings(root))  # its zeff_calibration.json
    settings = export_settings(bare_root, zeff_calibration="simulator")
    check_modality(bare_root, bare_inputs, "hlz_log", settings=settings)
    assert json.loads((without / "raw_scale.json").read_text())["high"]["air"] == settings.raw_scale.high.air


def test_the_import_command_draws_a_seeded_stratified_split_and_records_the_pitch(exports, tmp_path, capsys):
    from jobs.cli import main

    folder, scans = exports
    out = str(tmp_path / "split")
    assert len(scans) >= 8  # enough of each label to split
    argv = ["import", "dual-energy", folder, "--out", out, "--anomaly-categories", "threat",
            "--split", "random", "--val-fraction", "0.2", "--test-fraction", "0.3", "--seed", "4",
            "--pitch-mm", "0.98"]
    assert main(argv) == 0
    assert "train" in capsys.readouterr().out
    archive = Archive(out)
    splits = dict(zip(archive.scan_ids, archive.manifest.column("split").to_pylist(), strict=True))
    assert set(splits.values()) == {"train", "val", "test"}
    anomalous = dict(zip(archive.scan_ids, archive.manifest.column("is_anomalous").to_pylist(), strict=True))
    for label in (True, False):  # each label group is split by the fractions
        group = [s for s in splits if anomalous[s] is label]
        assert sum(splits[s] == "test" for s in group) == round(0.3 * len(group))
        assert sum(splits[s] == "val" for s in group) == round(0.2 * len(group))
    assert archive.info["splits"] == {"drawn": "random, stratified by is_anomalous", "val_fraction": 0.2,
                                      "test_fraction": 0.3, "seed": 4}
    assert archive.pitch_mm == 0.98 and archive.info["zeff_calibration"]["file"] == "zeff_calibration.json"
    again = str(tmp_path / "again")
    assert main([*argv[:4], again, *argv[5:]]) == 0  # the same seed draws the same split
    assert Archive(again).manifest.column("split").to_pylist() == archive.manifest.column("split").to_pylist()
    other = str(tmp_path / "other")  # and another seed another split, by the same fractions
    reseeded = [*argv[:4], other, *argv[5:]]
    reseeded[reseeded.index("--seed") + 1] = "5"
    assert main(reseeded) == 0
    drawn = Archive(other).manifest.column("split").to_pylist()
    assert drawn != archive.manifest.column("split").to_pylist()
    assert sorted(drawn) == sorted(archive.manifest.column("split").to_pylist())
    # a knob that cannot act is refused, and a bad fraction before anything is written
    assert main(["import", "dual-energy", folder, "--out", str(tmp_path / "x"), "--seed", "1"]) == 2
    assert "--seed acts only with --split random" in capsys.readouterr().err
    assert main(["import", "dual-energy", folder, "--out", str(tmp_path / "y"), "--split", "random",
                 "--val-fraction", "0.5", "--test-fraction", "0.5"]) == 2
    assert "their sum below 1" in capsys.readouterr().err and not (tmp_path / "y").exists()
