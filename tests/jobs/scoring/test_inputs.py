"""Scoring inputs: listing archives and folders, decoding each kind of file, every bad file named."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jobs.scoring.inputs import (
    check_modality,
    decode_scan,
    export_settings,
    list_inputs,
    model_input,
    read_payloads,
)
from scans.errors import ScanFormatError
from scans.exports import ExportSettings, raw_scale_from_values
from scans.modalities import ModalityError
from tests.jobs.scoring.conftest import MISSING_INDEX, PLANTED, WRONG_SIZE_INDEX


def _decode(root, item):
    return decode_scan(item, read_payloads(root, item))


def test_archive_inputs_are_the_manifest_rows_and_unlisted_files(bad_archive):
    root, inputs = list_inputs(bad_archive)
    ids = [i.scan_id for i in inputs]
    assert ids[:6] == [f"scan_{i:06d}" for i in range(6)]
    assert sorted(ids[6:]) == sorted(PLANTED)
    assert all(i.kind == "npz" and len(i.paths) == 1 for i in inputs)
    assert inputs[0].height == 96 and inputs[-1].height == -1  # the manifest's size, none for unlisted
    assert inputs[0].source == f"{root.uri}/scans/scan_000000.npz"


def test_every_planted_file_is_a_scan_format_error_naming_the_file(bad_archive):
    root, inputs = list_inputs(bad_archive)
    by_id = {i.scan_id: i for i in inputs}
    for stem, phrase in PLANTED.items():
        with pytest.raises(ScanFormatError, match=phrase) as err:
            _decode(root, by_id[stem])
        assert err.value.file == by_id[stem].source
    with pytest.raises(ScanFormatError, match=r"32×32 but manifest.parquet says 96×96"):
        _decode(root, inputs[WRONG_SIZE_INDEX])
    with pytest.raises(ScanFormatError, match="cannot be read"):
        _decode(root, inputs[MISSING_INDEX])
    scan = _decode(root, inputs[2])
    assert scan.shape == (96, 96) and scan.has_raw


def test_model_input_is_the_modality_resized(small_archive):
    root, inputs = list_inputs(small_archive)
    scan = _decode(root, inputs[0])
    image = model_input(scan, "hlz", 64)
    assert image.shape == (3, 64, 64) and image.dtype == np.float32
    assert image[0].min() > 0.0 and image[0].max() <= 1.0


def _png(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)


def test_folder_inputs_pair_raw_images_and_decode_each_kind(tmp_path):
    rng = np.random.default_rng(1)
    _png(tmp_path / "bag1.png", rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    (tmp_path / "sub").mkdir()
    high = rng.integers(1000, 65535, (40, 40), dtype=np.uint16)
    Image.fromarray(high).save(tmp_path / "sub" / "bag2_high.tif")
    Image.fromarray((high // 2).astype(np.uint16)).save(tmp_path / "sub" / "bag2_low.tif")
    Image.fromarray(high).save(tmp_path / "lonely_high.png")
    (tmp_path / "notes.txt").write_text("ignored")
    root, inputs = list_inputs(str(tmp_path))
    roles = {i.scan_id: (i.kind, i.roles) for i in inputs}
    assert roles == {"bag1": ("exports", ("pseudo",)), "sub/bag2": ("exports", ("high", "low")),
                     "lonely": ("exports", ("high",))}
    by_id = {i.scan_id: i for i in inputs}
    pseudo = _decode(root, by_id["bag1"])
    assert pseudo.pseudo.shape == (40, 50, 3) and not pseudo.has_raw
    raw = _decode(root, by_id["sub/bag2"])
    np.testing.assert_allclose(raw.high, high / 65535.0, rtol=1e-6)
    assert raw.has_raw and raw.low.max() <= 0.5
    with pytest.raises(ScanFormatError, match="raw pair incomplete: lonely_low is missing"):
        _decode(root, by_id["lonely"])


def test_a_grey_image_is_never_pseudo_colour_and_8_bit_raw_images_read_at_their_scale(tmp_path):
    Image.fromarray(np.full((32, 32), 5000, np.uint16)).save(tmp_path / "raw.png")
    Image.fromarray(np.full((32, 32), 90, np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(np.full((32, 32), 51, np.uint8)).save(tmp_path / "x_high.png")
    Image.fromarray(np.full((32, 32), 40, np.uint8)).save(tmp_path / "x_low.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    root, inputs = list_inputs(str(tmp_path))
    by_id = {i.scan_id: i for i in inputs}
    with pytest.raises(ScanFormatError, match="is raw, not pseudo-colour"):
        _decode(root, by_id["raw"])
    with pytest.raises(ScanFormatError, match=r"a grey \(L\) image is not pseudo-colour: name raw images"):
        _decode(root, by_id["grey"])
    with pytest.raises(ScanFormatError, match="not a readable image"):
        _decode(root, by_id["broken"])
    scan = _decode(root, by_id["x"])
    np.testing.assert_allclose(scan.high, 51 / 255, rtol=1e-6)
    air = ExportSettings(raw_scale_from_values(air=102, dark=0))  # --raw-air 102: 51 is half the air value
    scan = decode_scan(by_id["x"], read_payloads(root, by_id["x"]), settings=air)
    np.testing.assert_allclose(scan.high, 0.5, rtol=1e-6)
    (tmp_path / "raw_scale.json").write_text('{"high": {"air": 204, "dark": 0}, "low": {"air": 80}}')
    settings = export_settings(root)
    scan = decode_scan(by_id["x"], read_payloads(root, by_id["x"]), settings=settings)
    np.testing.assert_allclose([scan.high.max(), scan.low.max()], [0.25, 0.5], rtol=1e-6)
    with pytest.raises(ScanFormatError, match="exceeds this 8-bit image's full scale"):
        decode_scan(by_id["x"], read_payloads(root, by_id["x"]),
                    settings=ExportSettings(raw_scale_from_values(air=1000, dark=0)))
    (tmp_path / "raw_scale.json").write_text('{"high": {"air": 10, "dark": 20}}')
    with pytest.raises(ScanFormatError, match=r"raw_scale.json: high: .*air \(10.0\) must exceed dark"):
        export_settings(root)


def test_an_archive_without_the_models_modality_fails_before_any_work(tmp_path, small_archive):
    _png(tmp_path / "a.png", np.zeros((32, 32, 3), np.uint8))
    root, inputs = list_inputs(str(tmp_path))
    check_modality(root, inputs, "pseudo")
    with pytest.raises(ModalityError, match=r"needs modality 'hlz'.*only pseudo-colour images"):
        check_modality(root, inputs, "hlz")
    root, inputs = list_inputs(small_archive)
    check_modality(root, inputs, "hlz")  # synthetic archives hold raw high/low


def test_listing_names_what_is_wrong_with_the_location(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_inputs(str(tmp_path / "nowhere"))
    (tmp_path / "file.npz").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="found a file"):
        list_inputs(str(tmp_path / "file.npz"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no scans"):
        list_inputs(str(tmp_path / "empty"))
