"""Archive v1: round trips, the manifest, atomic writes, and every validation rule."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pyarrow.parquet as pq
import pytest

from scans.archive import MANIFEST_SCHEMA, Archive, read_scan_bytes, scan_file
from scans.errors import ArchiveError, ScanFormatError
from scans.npz import decode_npz, encode_npz
from scans.phantoms.anomalies import ANOMALIES
from scans.record import ARRAY_KEYS


def test_manifest_schema_and_rows(small_archive):
    table = pq.read_table(os.path.join(small_archive, "manifest.parquet"))
    assert table.schema.equals(MANIFEST_SCHEMA)
    rows = table.to_pylist()
    assert len(rows) == 6
    assert {r["split"] for r in rows} == {"train", "test"}
    assert sum(r["split"] == "train" for r in rows) == 3
    for r in rows:
        assert r["file"] == f"scans/{r['scan_id']}.npz"
        assert os.path.exists(os.path.join(small_archive, r["file"]))
        assert os.path.exists(os.path.join(small_archive, "previews", f"{r['scan_id']}.png"))
        assert (r["height"], r["width"]) == (96, 96) and r["has_labels"]
    with open(os.path.join(small_archive, "archive.json")) as f:
        info = json.load(f)
    assert info["format"] == "dualscan-archive" and info["version"] == 1
    assert info["config"]["seed"] == 3


def test_every_array_round_trips(small_archive, study_archive):
    archive = Archive(study_archive)  # world 2: every key, item models too
    scan = archive.read(archive.scan_ids[0])
    raw = np.load(os.path.join(study_archive, scan_file(scan.scan_id)), allow_pickle=False)
    assert sorted(raw.files) == sorted(ARRAY_KEYS)
    world1 = Archive(small_archive).read(Archive(small_archive).scan_ids[0])
    assert world1.object_model is None  # world 1 records no item models
    for key in ARRAY_KEYS:
        np.testing.assert_array_equal(getattr(scan, key), raw[key])
        assert getattr(scan, key).dtype == raw[key].dtype
    row = archive.manifest.to_pylist()[0]
    assert row["n_objects"] == scan.n_objects and row["is_anomalous"] == scan.is_anomalous
    assert len(list(archive)) == 20


def test_npz_bytes_are_deterministic_and_numpy_readable():
    arrays = {"high": np.linspace(0.1, 1, 12, dtype=np.float32).reshape(3, 4),
              "objects": np.repeat(np.arange(4, dtype=np.int32), 64).reshape(16, 16)}
    data = encode_npz(arrays)
    assert data == encode_npz(dict(arrays))
    with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
        for key, value in arrays.items():
            np.testing.assert_array_equal(loaded[key], value)
    with zipfile.ZipFile(io.BytesIO(data)) as z:  # our own zip records: checksums and sizes hold
        assert z.testzip() is None
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}
        assert z.getinfo("objects.npy").compress_size < z.getinfo("objects.npy").file_size / 4


def test_no_temporary_files_are_left(small_archive):
    leftovers = [f for _, _, files in os.walk(small_archive) for f in files if ".tmp-" in f]
    assert leftovers == []


def test_incomplete_or_foreign_archives_are_refused(tmp_path):
    with pytest.raises(ArchiveError, match=r"archive\.json: not found"):
        Archive(str(tmp_path))
    (tmp_path / "archive.json").write_text(json.dumps({"format": "other", "version": 1}))
    with pytest.raises(ArchiveError, match="'format' must be 'dualscan-archive'"):
        Archive(str(tmp_path))
    (tmp_path / "archive.json").write_text(json.dumps({"format": "dualscan-archive", "version": 9}))
    with pytest.raises(ArchiveError, match="'version' 9 is not supported"):
        Archive(str(tmp_path))


def _good() -> dict[str, np.ndarray]:
    objects = np.zeros((8, 8), dtype=np.int32)
    objects[2:5, 2:5] = 1
    return {
        "high": np.full((8, 8), 0.5, dtype=np.float32),
        "low": np.full((8, 8), 0.4, dtype=np.float32),
        "zeff": np.full((8, 8), 7.0, dtype=np.float32),
        "pseudo": np.zeros((8, 8, 3), dtype=np.uint8),
        "objects": objects,
        "object_class": np.array(["laptop"]),
        "object_anomalous": np.array([True]),
        "parts": objects.copy(),
        "anomaly": (objects > 0).astype(np.uint8),
    }


def _broken(**changes) -> bytes:
    arrays = _good()
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    return encode_npz(arrays)


BROKEN_FILES = {
    "empty": (b"", "file is empty"),
    "truncated": (_broken()[:300], "not a readable .npz"),
    "not npz": (b"PK\x03\x04 this is not really a zip" * 4, "not a readable .npz"),
    "text": (b"hello, world", "not a readable .npz"),
    "missing high and pseudo": (_broken(high=None, low=None, pseudo=None), "missing key"),
    "high without low": (_broken(low=None), "'high' is present without 'low'"),
    "wrong dtype": (_broken(high=np.full((8, 8), 0.5)), "'high' has dtype float64, expected float32"),
    "wrong ndim": (_broken(low=np.full((8, 8, 1), 0.5, np.float32)), "'low' has 3 dimensions"),
    "pseudo not rgb": (_broken(pseudo=np.zeros((8, 8, 4), np.uint8)), "expected H×W×3"),
    "size mismatch": (_broken(low=np.full((8, 9), 0.5, np.float32)), "must share H×W"),
    "nan": (_broken(high=np.full((8, 8), np.nan, np.float32)), "NaN or infinite"),
    "inf zeff": (_broken(zeff=np.full((8, 8), np.inf, np.float32)), "'zeff' contains NaN"),
    "zero transmission": (_broken(low=np.zeros((8, 8), np.float32)), "must lie in \\(0, 1\\]"),
    "above one": (_broken(high=np.full((8, 8), 1.5, np.float32)), "must lie in \\(0, 1\\]"),
    "negative zeff": (_broken(zeff=np.full((8, 8), -1, np.float32)), "'zeff' must be >= 0"),
    "labels incomplete": (_broken(object_class=None), "item labels are incomplete"),
    "class length": (_broken(object_class=np.array(["a", "b"])), "'object_class' has 2 entries"),
    "flags length": (_broken(object_anomalous=np.array([], bool)), "'object_anomalous' has 0"),
    "class not text": (_broken(object_class=np.array([1])), "1-D unicode"),
    "negative parts": (_broken(parts=np.full((8, 8), -2, np.int32)), "'parts' ids must be >= 0"),
    "anomaly not binary": (_broken(anomaly=np.full((8, 8), 3, np.uint8)), "only 0 and 1"),
    "kind not text": (_broken(object_anomaly_kind=np.array([1])), "'object_anomaly_kind' must be a 1-D"),
    "kind length": (_broken(object_anomaly_kind=np.array(["blade", ""])),
                    "'object_anomaly_kind' has 2 entries but there are 1 items"),
    "kind on a benign item": (_broken(object_anomalous=np.array([False]),
                                      object_anomaly_kind=np.array(["blade"])),
                              "item 1 is 'blade' but the item is benign"),
    "no kind on an anomalous item": (_broken(object_anomaly_kind=np.array([""])),
                                     "item 1 is '' but the item is anomalous"),
    "kind without items": (_broken(objects=None, object_class=None, object_anomalous=None,
                                   object_anomaly_kind=np.array(["blade"])), "without the item labels"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
def test_every_rule_rejects_a_broken_file_naming_it(case):
    data, rule = BROKEN_FILES[case]
    with pytest.raises(ScanFormatError, match=rule) as info:
        read_scan_bytes(data, "archive/scans/bad.npz")
    assert info.value.file == "archive/scans/bad.npz"
    assert str(info.value).startswith("archive/scans/bad.npz: ")


def test_anomaly_kinds_round_trip_and_stay_optional(small_archive):
    archive = Archive(small_archive)
    kinds = {}
    for scan in archive:
        assert scan.object_anomaly_kind.dtype.kind == "U"
        assert ((scan.object_anomaly_kind != "") == scan.object_anomalous).all()
        kinds.update(zip(scan.object_anomaly_kind.tolist(), scan.object_anomalous.tolist(), strict=True))
    assert set(kinds) - {""} <= set(ANOMALIES) and any(kinds.values())
    with_kind = _good() | {"object_anomaly_kind": np.array(["metal_plate"])}
    scan = read_scan_bytes(encode_npz(with_kind), "k.npz")
    assert scan.object_anomaly_kind.tolist() == ["metal_plate"]
    assert read_scan_bytes(encode_npz(_good()), "plain.npz").object_anomaly_kind is None  # absent: fine


def test_archive_records_the_pitch(small_archive):
    archive = Archive(small_archive)
    assert archive.info["pitch_mm"] == pytest.approx(500 / 96)  # the 50 cm tray across 96 pixels
    assert archive.manifest.column("source")[0].as_py().endswith(f"pitch_mm={500 / 96:.4g}")
    assert archive.read(archive.scan_ids[0]).meta["pitch_mm"] == pytest.approx(500 / 96)


def test_pickled_object_arrays_are_refused_not_loaded():
    buffer = io.BytesIO()
    np.savez(buffer, high=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ScanFormatError, match="Python objects"):
        decode_npz(buffer.getvalue(), "x.npz")


def test_pseudo_only_scans_are_valid():
    scan = read_scan_bytes(_broken(high=None, low=None, zeff=None), "p.npz")
    assert not scan.has_raw and scan.shape == (8, 8)


def test_unknown_extra_keys_are_ignored():
    arrays = _good() | {"notes": np.array(["scanner 3"])}
    scan = read_scan_bytes(encode_npz(arrays), "x.npz")
    assert scan.high is not None


def test_zip_entries_have_fixed_timestamps():
    with zipfile.ZipFile(io.BytesIO(encode_npz(_good()))) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
