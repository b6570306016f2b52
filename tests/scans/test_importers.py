"""Importers: a COMPASS-XP-like folder and a COCO folder, both made here, become archive v1."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from scans.archive import Archive
from scans.errors import ScanFormatError
from scans.importers import IMPORTERS
from scans.importers.coco import decode_segmentation, rle_counts_from_string
from scans.modalities import ModalityError, build_input


def _compass_folder(root):
    for sub in ("High", "Low", "Colour", "Photo"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for base in ["0001", "0002", "0003"]:
        high = (rng.uniform(0.2, 1.0, (20, 30)) * 65535).astype(np.uint16)
        low = (high * 0.8).astype(np.uint16)
        Image.fromarray(high).save(root / "High" / f"{base}.png")
        if base != "0003":  # 0003 lacks its low image: skipped, with the reason
            Image.fromarray(low).save(root / "Low" / f"{base}.png")
        Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(
            root / "Colour" / f"{base}.png")
        (root / "Photo" / f"{base}.jpg").write_bytes(b"not used")
    (root / "meta.txt").write_text(
        "basename\tclass\tdangerous\tinstance\tpose\tscan_tray\n"
        "1\tlaptop\t1\t1\t0\t1\n2\tcamera\t0\t1\t1\t0\n3\tlaptop\t0\t2\t0\t1\n")
    return root


def test_compass_folder_imports_with_raw_channels_and_labels(tmp_path):
    src = _compass_folder(tmp_path / "compass")
    report = IMPORTERS["compass"](str(src), str(tmp_path / "out"), split="test")
    assert report.written == 2
    assert [s["file"].rsplit("/", 2)[-2:] for s in report.skipped] == [["High", "0003.png"]]
    assert "no Low/ image" in report.skipped[0]["error"]
    archive = Archive(str(tmp_path / "out"))
    assert archive.info["skipped"] == report.skipped
    rows = {r["scan_id"]: r for r in archive.manifest.to_pylist()}
    assert rows["compass_0001"]["is_anomalous"] is True
    assert rows["compass_0002"]["is_anomalous"] is False
    assert rows["compass_0001"]["split"] == "test" and not rows["compass_0001"]["has_labels"]
    scan = archive.read("compass_0001")
    high = np.asarray(Image.open(src / "High" / "0001.png"), dtype=np.float64) / 65535
    np.testing.assert_allclose(scan.high, high, atol=1e-6)
    assert scan.pseudo.shape == (20, 30, 3)
    assert build_input(scan, "high_log").shape == (1, 20, 30)
    # no calibration given: no Z, and a modality that reads Z says what to give
    assert scan.zeff is None and "zeff_calibration" not in archive.info
    with pytest.raises(ModalityError, match="no Z_eff calibration was given for its scanner"):
        build_input(scan, "hlz")
    # the simulator's table only when named: Z derived at import and stored
    IMPORTERS["compass"](str(src), str(tmp_path / "z"), zeff_calibration="simulator")
    archive = Archive(str(tmp_path / "z"))
    assert archive.info["zeff_calibration"] == "simulator"
    assert archive.read("compass_0001").zeff is not None
    assert build_input(archive.read("compass_0001"), "hlz").shape == (3, 20, 30)


def test_compass_folder_without_images_is_a_clear_error(tmp_path):
    with pytest.raises(ScanFormatError, match="no High/ or Colour/ images"):
        IMPORTERS["compass"](str(tmp_path), str(tmp_path / "out"))


def _encode_rle_string(counts: list[int]) -> str:
    """COCO's compressed RLE, written from its description: 5-bit groups, deltas after the 2nd."""
    out = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            chunk = x & 0x1F
            x >>= 5
            more = x != -1 if chunk & 0x10 else x != 0
            out.append(chr((chunk | (0x20 if more else 0)) + 48))
    return "".join(out)


def _rle_counts(mask: np.ndarray) -> list[int]:
    flat = mask.flatten(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    return np.diff(np.concatenate([[0], changes])).tolist()


def test_rle_round_trip_both_encodings():
    rng = np.random.default_rng(3)
    mask = np.zeros((40, 50), dtype=bool)
    mask[5:30, 10:45] = True
    mask[rng.random((40, 50)) < 0.05] ^= True
    counts = _rle_counts(mask)
    assert sum(counts) == mask.size
    assert rle_counts_from_string(_encode_rle_string(counts)) == counts
    for counts_field in (counts, _encode_rle_string(counts)):
        decoded = decode_segmentation({"size": [40, 50], "counts": counts_field}, 40, 50, "x")
        np.testing.assert_array_equal(decoded, mask)


def test_coco_folder_imports_items_and_anomalies(tmp_path):
    src = tmp_path / "coco"
    src.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((40, 50, 3), 200, np.uint8)).save(src / name)
    (src / "c.png").write_bytes(b"broken image")
    knife = np.zeros((40, 50), dtype=bool)
    knife[12:16, 12:30] = True
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "height": 40, "width": 50},
                   {"id": 2, "file_name": "b.png", "height": 40, "width": 50}],
        "categories": [{"id": 1, "name": "laptop"}, {"id": 2, "name": "knife"}],
        "annotations": [
            {"image_id": 1, "category_id": 1, "segmentation": [[5, 5, 45, 5, 45, 35, 5, 35]]},
            {"image_id": 1, "category_id": 2,
             "segmentation": {"size": [40, 50], "counts": _encode_rle_string(_rle_counts(knife))}},
            {"image_id": 2, "category_id": 1, "segmentation": [[2, 2, 20, 2, 20, 20]]},
        ],
    }
    (src / "labels.json").write_text(json.dumps(coco))
    report = IMPORTERS["coco"](str(src), str(tmp_path / "out"), anomaly_categories=("knife",))
    assert report.written == 2 and len(report.skipped) == 1
    assert report.skipped[0]["file"].endswith("c.png")
    archive = Archive(str(tmp_path / "out"))
    a = archive.read("coco_a")
    assert a.object_class.tolist() == ["laptop"] and a.object_anomalous.tolist() == [True]
    assert a.object_anomaly_kind.tolist() == ["knife"]  # the anomaly category names the kind
    np.testing.assert_array_equal(a.anomaly > 0, knife)
    assert (a.objects[knife] == 1).all() and a.parts[knife].min() == 2
    b = archive.read("coco_b")
    assert b.object_anomalous.tolist() == [False] and not b.anomaly.any()
    assert b.object_anomaly_kind.tolist() == [""]
    with pytest.raises(Exception, match="needs the raw high/low"):
        build_input(a, "high")
