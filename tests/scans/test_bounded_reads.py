"""Reads bounded before they allocate: bombs, lying headers, zip rules, image sizes and the limits."""

from __future__ import annotations

import io
import shutil
import sys
import zipfile

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from jobs.scoring.inputs import InputFile, decode_scan
from scans.archive import Archive, read_scan_bytes, scan_file
from scans.errors import ScanFormatError
from scans.images import open_image
from scans.importers.base import read_image
from scans.limits import ReadLimits
from scans.npz import decode_npz, encode_npz
from testkit.hostile import (
    Cost,
    deflate_bomb,
    directory_bomb,
    image_bytes,
    lying_header,
    offset_lie,
    png_with_size,
    tiff_with_size,
)

BOUND_BYTES = 32 * 1024**2  # what refusing any of these files may allocate (traced, and peak RSS growth)
# what refusing one may take, measured alone (inflating the bomb takes longer, and its memory shows it)
SECONDS = 5.0


def _within_bound(cost: Cost) -> bool:
    """Whether a measured read stayed under BOUND_BYTES, traced and (where measurable) resident."""
    return cost.traced_bytes < BOUND_BYTES and (cost.rss_bytes is None or cost.rss_bytes < BOUND_BYTES)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """The issue's bomb: 20000 × 20000 float32 zeros (1.6 GB) deflated into about 1.6 MB."""
    return deflate_bomb((20_000, 20_000))


def _good(size: int = 8) -> dict[str, np.ndarray]:
    return {"high": np.full((size, size), 0.5, np.float32), "low": np.full((size, size), 0.4, np.float32)}


def test_the_bombs_are_real_files_numpy_reads():
    small = deflate_bomb((3000, 2000))  # past one repeated deflate piece, CRC and sizes right
    with np.load(io.BytesIO(small), allow_pickle=False) as npz:
        high = npz["high"]
    assert high.shape == (3000, 2000) and high.dtype == np.float32 and not high.any()
    assert len(small) < 30_000


def test_a_decompression_bomb_is_refused_from_its_header_before_it_is_inflated(bomb, measure_alone):
    assert len(bomb) < 3 * 1024**2
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:  # a real bomb: numpy's own reader would inflate it
        assert archive.infolist()[0].file_size == 128 + 20_000 * 20_000 * 4
    cost = measure_alone(read_scan_bytes, bomb, "bags/bomb.npz")
    raised = cost.raised
    assert isinstance(raised, ScanFormatError), raised
    assert raised.file == "bags/bomb.npz"
    assert "'high' is 20000×20000" in raised.rule and "67,108,864 pixels" in raised.rule
    assert "DUALSCAN_MAX_PIXELS" in raised.rule
    assert _within_bound(cost), f"refusing the bomb allocated {cost}"
    assert cost.seconds < SECONDS, cost


def test_a_header_claiming_100000_squared_is_a_format_error_not_a_memory_error(tmp_path, small_archive):
    lie = lying_header((100_000, 100_000))
    assert len(lie) < 300
    with pytest.raises(ScanFormatError, match=r"'high' is 100000×100000; the limit is"):
        read_scan_bytes(lie, "lie.npz")
    # through Archive.read too (training, importers, preview): the manifest's own size is checked first
    archive_dir = tmp_path / "archive"
    shutil.copytree(small_archive, archive_dir)
    archive = Archive(str(archive_dir))
    victim = archive.scan_ids[0]
    (archive_dir / scan_file(victim)).write_bytes(lie)
    with pytest.raises(ScanFormatError, match=r"100000×100000 but manifest\.parquet says 96×96") as err:
        Archive(str(archive_dir), ReadLimits(max_pixels=10**11)).read(victim)
    assert err.value.file.endswith(scan_file(victim))
    with pytest.raises(ScanFormatError, match="100000×100000; the limit is"):
        archive.read(victim)


def test_the_manifest_size_is_checked_before_decoding():
    data = encode_npz(_good(8))
    assert read_scan_bytes(data, "x.npz", shape=(8, 8)).shape == (8, 8)
    with pytest.raises(ScanFormatError, match=r"scan is 8×8 but manifest\.parquet says 9×8"):
        read_scan_bytes(data, "x.npz", shape=(9, 8))


def test_wrong_dtype_or_rank_is_refused_before_the_data_are_inflated(measure_alone):
    for descr, rule in (("<f8", "'high' has dtype float64, expected float32"),
                        ("|O", "holds Python objects")):
        data = deflate_bomb((4000, 4000), descr=descr)
        cost = measure_alone(decode_npz, data, "b.npz")
        assert isinstance(cost.raised, ScanFormatError) and rule in cost.raised.rule, cost
        assert _within_bound(cost), cost
    pseudo = deflate_bomb((64, 64), key="pseudo", descr="|u1")
    with pytest.raises(ScanFormatError, match="'pseudo' has 2 dimensions"):
        decode_npz(pseudo, "p.npz")


def test_keys_outside_the_format_are_skipped_unread(measure_alone):
    combined = io.BytesIO(encode_npz(_good()))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (20_000, 20_000)})
    with zipfile.ZipFile(combined, "a") as archive:  # an entry that cannot be read: a header claiming 1.6 GB
        archive.writestr("notes.npy", header.getvalue())
    cost = measure_alone(read_scan_bytes, combined.getvalue(), "n.npz")
    assert cost.raised is None and _within_bound(cost), cost
    with pytest.raises(ValueError, match="EOF"):  # the entry has no data: reading it would fail
        np.lib.format.read_array(io.BytesIO(header.getvalue()))


def test_zip_rules_entries_sizes_methods_and_duplicates():
    arrays = _good()
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as archive:
        for key, value in arrays.items():
            payload = io.BytesIO()
            np.lib.format.write_array(payload, value)
            archive.writestr(f"{key}.npy", payload.getvalue())
        for index in range(70):
            archive.writestr(f"extra{index}.npy", b"")
    with pytest.raises(ScanFormatError, match="for 72 entries; the limit is 64 entries"):
        decode_npz(many.getvalue(), "m.npz")

    short = io.BytesIO()  # an entry declaring fewer bytes than its header implies
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (8, 8)})
    with zipfile.ZipFile(short, "w") as archive:
        archive.writestr("high.npy", header.getvalue() + bytes(100))
    with pytest.raises(ScanFormatError, match=r"declares 228 bytes uncompressed but its \.npy"):
        decode_npz(short.getvalue(), "s.npz")

    for method in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=method) as archive:
            archive.writestr("high.npy", b"x")
        with pytest.raises(ScanFormatError, match=f"zip method {method}; the format reads stored"):
            decode_npz(buffer.getvalue(), "c.npz")

    twice = io.BytesIO()
    with zipfile.ZipFile(twice, "w") as archive:
        payload = io.BytesIO()
        np.lib.format.write_array(payload, arrays["high"])
        archive.writestr("high.npy", payload.getvalue())
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("high.npy", payload.getvalue())
    with pytest.raises(ScanFormatError, match="array 'high' appears twice"):
        decode_npz(twice.getvalue(), "d.npz")


def test_limits_are_configurable_and_checked(monkeypatch):
    data = encode_npz(_good(8))
    with pytest.raises(ScanFormatError, match="'high' is 8×8; the limit is 32 pixels"):
        read_scan_bytes(data, "x.npz", limits=ReadLimits(max_pixels=32))
    with pytest.raises(ScanFormatError, match=r"file is .* bytes, above the limit of 100"):
        read_scan_bytes(data, "x.npz", limits=ReadLimits(max_file_bytes=100))
    labelled = _good(8) | {"objects": np.ones((8, 8), np.int32), "object_class": np.array(["bag"]),
                           "object_anomalous": np.array([False])}
    assert read_scan_bytes(encode_npz(labelled), "x.npz").n_objects == 1
    with pytest.raises(ScanFormatError, match="'object_class' holds labels of 3 characters, above the limit"):
        read_scan_bytes(encode_npz(labelled), "x.npz", limits=ReadLimits(max_label_chars=2))
    three = labelled | {"objects": np.arange(64, dtype=np.int32).reshape(8, 8) % 4,
                        "object_class": np.array(["a", "b", "c"]), "object_anomalous": np.zeros(3, bool)}
    assert read_scan_bytes(encode_npz(three), "x.npz").n_objects == 3
    with pytest.raises(ScanFormatError, match="'object_class' has 3 entries, above the limit of 2 items"):
        read_scan_bytes(encode_npz(three), "x.npz", limits=ReadLimits(max_items=2))
    monkeypatch.setenv("DUALSCAN_MAX_PIXELS", "48")
    assert ReadLimits.from_env().max_pixels == 48
    with pytest.raises(ScanFormatError, match="limit is 48 pixels"):
        read_scan_bytes(data, "x.npz")
    monkeypatch.setenv("DUALSCAN_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="DUALSCAN_MAX_PIXELS='lots': expected a positive integer"):
        ReadLimits.from_env()
    with pytest.raises(ValueError, match="max_pixels must be a positive integer, got 0"):
        ReadLimits(max_pixels=0)


def test_image_headers_are_bounded_before_pixels_are_decoded(monkeypatch, measure_alone):
    rgb = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    for format_, rewrite in (("PNG", png_with_size), ("TIFF", tiff_with_size)):
        lie = rewrite(image_bytes(rgb, format_), 100_000, 100_000)
        with monkeypatch.context() as patch:
            patch.setattr(Image, "MAX_IMAGE_PIXELS", None)
            assert Image.open(io.BytesIO(lie)).size == (100_000, 100_000)  # the header does lie
        cost = measure_alone(open_image, lie, "bag.png")
        assert isinstance(cost.raised, ScanFormatError), cost
        assert "bag.png" in str(cost.raised) and "limit is 67,108,864 pixels" in cost.raised.rule
        assert _within_bound(cost) and cost.seconds < SECONDS, cost
        small_lie = rewrite(image_bytes(rgb, format_), 64, 64)  # within the limit, the data too short
        with pytest.raises(ScanFormatError, match="not a readable image"):
            np.asarray(open_image(small_lie, "bag.png"))
    # the header's width × height against the read's own limit, however far below Pillow's it is
    limits = ReadLimits(max_pixels=1000)
    for side in (32, 50):
        big = image_bytes(np.zeros((side, side, 3), np.uint8), "PNG")
        with pytest.raises(ScanFormatError, match=f"too large \\({side}×{side} is {side * side} pixels\\).*"
                                                   "the limit is 1,000"):
            open_image(big, "bag.png", limits)
    assert open_image(image_bytes(rgb[:31, :31], "PNG"), "bag.png", limits).size == (31, 31)
    assert np.asarray(open_image(image_bytes(rgb, "PNG"), "bag.png")).shape == (32, 32, 3)


class _WatchedPillow:
    """PIL.Image as scans.images sees it, recording every module attribute set through it."""

    def __init__(self):
        object.__setattr__(self, "assigned", [])

    def __getattr__(self, name):
        return getattr(Image, name)

    def __setattr__(self, name, value):
        self.assigned.append(name)
        setattr(Image, name, value)


def test_image_reads_leave_pillows_process_wide_limit_alone(monkeypatch):
    # Image.MAX_IMAGE_PIXELS is one per process: a read that swapped it would change the limit of
    # every read in another thread at that moment
    watched = _WatchedPillow()
    monkeypatch.setattr("scans.images.Image", watched)
    small, large = (image_bytes(np.zeros((side, side, 3), np.uint8), "PNG") for side in (20, 40))
    assert open_image(small, "small.png", ReadLimits(max_pixels=1000)).size == (20, 20)
    with pytest.raises(ScanFormatError, match=r"large\.png: image too large"):
        open_image(large, "large.png", ReadLimits(max_pixels=1000))
    assert open_image(large, "large.png", ReadLimits(max_pixels=10**10)).size == (40, 40)
    assert watched.assigned == []


def test_threads_reading_images_each_keep_their_own_limit():
    from concurrent.futures import ThreadPoolExecutor

    data = image_bytes(np.zeros((40, 40, 3), np.uint8), "PNG")

    def verdict(strict: bool) -> bool:
        try:
            open_image(data, "x.png", ReadLimits(max_pixels=1000 if strict else 10**6))
            return True
        except ScanFormatError:
            return False

    plan = [i % 2 == 0 for i in range(400)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch often: a limit swapped around a read would leak across
    try:
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(verdict, plan)) == [not strict for strict in plan]
    finally:
        sys.setswitchinterval(interval)


def test_scoring_inputs_of_every_kind_are_bounded():
    rgb = image_bytes(np.zeros((32, 32, 3), np.uint8), "PNG")
    raw = image_bytes(np.full((32, 32), 30_000, np.uint16), "PNG")
    limits = ReadLimits(max_pixels=500)
    cases = [(InputFile("a", "a.npz", ("a.npz",), "npz"), [encode_npz(_good(32))]),
             (InputFile.exports("b", "b.png", {"pseudo": "b.png"}), [rgb]),
             (InputFile.exports("c", "c_high.png", {"high": "c_high.png", "low": "c_low.png"}), [raw, raw])]
    for item, payloads in cases:
        assert decode_scan(item, payloads).shape == (32, 32)
        with pytest.raises(ScanFormatError, match="the limit is 500 pixels"):
            decode_scan(item, payloads, limits)
    lie = [lying_header((50_000, 50_000)), png_with_size(raw, 50_000, 50_000)]
    with pytest.raises(ScanFormatError, match="50000×50000"):
        decode_scan(cases[0][0], lie[:1])
    with pytest.raises(ScanFormatError, match=r"c_low.png: image too large .*2500000000 pixels"):
        decode_scan(cases[2][0], [raw, lie[1]])


def test_a_bomb_in_an_archive_is_an_error_not_a_crash(tmp_path, small_archive, bomb, measure_alone):
    archive_dir = tmp_path / "archive"
    shutil.copytree(small_archive, archive_dir)
    victim = pq.read_table(archive_dir / "manifest.parquet").column("scan_id")[1].as_py()
    (archive_dir / scan_file(victim)).write_bytes(bomb)
    archive = Archive(str(archive_dir))
    cost = measure_alone(archive.read, victim)
    assert isinstance(cost.raised, ScanFormatError) and "'high' is 20000×20000" in cost.raised.rule
    assert _within_bound(cost), cost
    assert archive.read(archive.scan_ids[0]).shape == (96, 96)


def test_zip_structures_that_lie_are_refused_before_zipfile_parses_them(measure_alone):
    bomb = directory_bomb(100_000)  # 5.4 MB listing one entry 100,000 times
    cost = measure_alone(decode_npz, bomb, "d.npz")
    assert isinstance(cost.raised, ScanFormatError), cost
    assert "directory is 5,400,000 bytes for 65,535 entries; the limit is 64 entries" in cost.raised.rule
    assert _within_bound(cost) and cost.seconds < SECONDS, cost
    assert sorted(decode_npz(directory_bomb(1), "one.npz")) == ["high"]  # the same file, listed once
    with pytest.raises(ScanFormatError, match=r"not a readable \.npz archive \(OverflowError"):
        decode_npz(offset_lie(), "o.npz")  # a zip64 offset of 2**63


@pytest.mark.parametrize("shape", [(0, 2**64), (2**70, 0), (-1, -1), (8, -8)])
def test_shapes_beyond_any_index_are_refused_even_when_empty(shape):
    with pytest.raises(ScanFormatError, match=r"each dimension must lie in \[0, 67,108,864\]"):
        decode_npz(lying_header(shape), "s.npz")


def test_only_the_formats_a_reader_takes_are_decoded(tmp_path):
    rgb = np.zeros((32, 32, 3), np.uint8)
    for format_ in ("BMP", "GIF", "JPEG"):  # Pillow reads them all; scoring takes PNG and TIFF only
        with pytest.raises(ScanFormatError, match="not a readable image in PNG/TIFF"):
            open_image(image_bytes(rgb, format_), f"bag.{format_.lower()}")
    (tmp_path / "bag.bmp").write_bytes(image_bytes(rgb, "BMP"))  # the importers take scanners' exports
    assert read_image(str(tmp_path / "bag.bmp")).shape == (32, 32, 3)
    with pytest.raises(ScanFormatError, match=r"too large .*the limit is 100 pixels"):
        read_image(str(tmp_path / "bag.bmp"), ReadLimits(max_pixels=100))


def test_a_file_above_the_size_limit_is_refused_before_it_is_read(small_archive):
    archive = Archive(small_archive, ReadLimits(max_file_bytes=100))
    with pytest.raises(ScanFormatError, match=r"file is [\d,]+ bytes, above the limit of 100 "
                                              r"\(set DUALSCAN_MAX_FILE_BYTES"):
        archive.read(archive.scan_ids[0])
