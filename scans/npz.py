"""Byte-exact .npz encoding (fixed zip timestamps) and bounded, safe decoding (never unpickles)."""

from __future__ import annotations

import io
import math
import struct
import tokenize
import zipfile
import zlib

import numpy as np

from scans.errors import ScanFormatError
from scans.limits import ENVIRONMENT, ReadLimits
from scans.record import ARRAY_KEYS
from scans.validate import IMAGE_ARRAYS, ITEM_ARRAYS, header_rule

# zip entries get this timestamp so the same arrays always give the same bytes.
_EPOCH = (1980, 1, 1, 0, 0, 0)
_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # what np.savez(_compressed) writes
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_MAX_HEADER = 10_000  # numpy's own bound on a header's length
_END_SIGNATURE, _ZIP64_LOCATOR, _ZIP64_END_SIGNATURE = b"PK\x05\x06", b"PK\x06\x07", b"PK\x06\x06"
_END_SEARCH = 22 + 65_535  # the end record and the longest comment it may carry
_MAX_DIRECTORY_RECORD = 46 + 3 * 1024  # a central-directory record with a generous name and extras


_LOCAL_HEADER, _CENTRAL_HEADER, _END_RECORD = "<IHHHHHIIIHH", "<IHHHHHHIIIHHHHHII", "<IHHHHIIH"
_DOS_DATE = ((_EPOCH[0] - 1980) << 9) | (_EPOCH[1] << 5) | _EPOCH[2]  # at 00:00:00
_MADE_BY, _NEEDED = (3 << 8) | 20, 20  # unix, zip 2.0 (deflate)
_ZIP32_MAX = 0xFFFF_FFFF


def _npy(value) -> bytes:
    payload = io.BytesIO()
    np.lib.format.write_array(payload, np.asanyarray(value), allow_pickle=False)
    return payload.getvalue()


def _deflate(payload: bytes, floating: bool, level: int) -> bytes:
    # noisy floating-point images repeat few byte strings: run-length matching compresses them
    # about as well as the full search (within 0.1 of the size) in half the time
    strategy = zlib.Z_RLE if floating else zlib.Z_DEFAULT_STRATEGY
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)
    return compressor.compress(payload) + compressor.flush()


def encode_npz(arrays: dict[str, np.ndarray], compresslevel: int = 1) -> bytes:
    """Compressed .npz bytes readable by ``np.load``; deterministic for the same arrays (fixed
    timestamps). Floating-point arrays are deflated with run-length matching, the rest fully."""
    entries = [(f"{key}.npy".encode(), _npy(value), np.asanyarray(value).dtype.kind == "f")
               for key, value in arrays.items()]
    if sum(len(payload) for _, payload, _ in entries) >= _ZIP32_MAX // 2:
        return _encode_zip64(arrays, compresslevel)  # past 32-bit offsets: zipfile's zip64 records
    out, central = io.BytesIO(), []
    for name, payload, floating in entries:
        data, crc, offset = _deflate(payload, floating, compresslevel), zlib.crc32(payload), out.tell()
        out.write(struct.pack(_LOCAL_HEADER, 0x04034B50, _NEEDED, 0, zipfile.ZIP_DEFLATED, 0, _DOS_DATE, crc,
                              len(data), len(payload), len(name), 0) + name)
        out.write(data)
        central.append(struct.pack(_CENTRAL_HEADER, 0x02014B50, _MADE_BY, _NEEDED, 0, zipfile.ZIP_DEFLATED, 0,
                                   _DOS_DATE, crc, len(data), len(payload), len(name), 0, 0, 0, 0,
                                   0o644 << 16, offset) + name)
    directory, start = b"".join(central), out.tell()
    out.write(directory)
    count = len(central)
    out.write(struct.pack(_END_RECORD, 0x06054B50, 0, 0, count, count, len(directory), start, 0))
    return out.getvalue()


def _encode_zip64(arrays: dict[str, np.ndarray], compresslevel: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            archive.writestr(info, _npy(value), zipfile.ZIP_DEFLATED, compresslevel)
    return buffer.getvalue()


def decode_npz(data: bytes, file: str, limits: ReadLimits | None = None,
               shape: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """The format's arrays of an .npz (other entries are skipped unread), never unpickled.

    Each entry's .npy header is read first, and an entry whose dtype, rank or size breaks the
    format, ``limits`` or the expected H×W ``shape`` (a manifest row's) is refused before its data
    is decompressed, so a small file cannot make the reader allocate more than the limits allow.
    Any failure is a ScanFormatError that names ``file``.
    """
    limits = limits or ReadLimits.from_env()
    if not data:
        raise ScanFormatError(file, "file is empty (0 bytes)")
    limits.check_file_size(len(data), file)
    _check_directory(data, file, limits)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = _checked_entries(archive, file, limits)
            arrays = {}
            for key, entry in entries.items():
                if key not in ARRAY_KEYS:
                    continue  # not the format's: never decompressed
                _check_entry(archive, entry, key, file, limits, shape)
                with archive.open(entry) as stream:
                    arrays[key] = np.lib.format.read_array(stream, allow_pickle=False)
    except ScanFormatError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, NotImplementedError,
            RuntimeError, SyntaxError, OverflowError, tokenize.TokenError) as err:  # numpy's header parser
        # uses tokenize; an offset or size beyond 2**63 overflows a seek
        raise ScanFormatError(file, f"not a readable .npz archive ({type(err).__name__}: {err})") from None
    if not entries:
        raise ScanFormatError(file, "the .npz archive holds no arrays")
    return arrays


def _check_directory(data: bytes, file: str, limits: ReadLimits) -> None:
    """Refuse a zip whose central directory (from its end record, zip64 included) is larger than
    ``limits.max_entries`` records could be, before ``zipfile`` parses a record of it."""
    end = data.rfind(_END_SIGNATURE, max(0, len(data) - _END_SEARCH))
    if end < 0 or end + 22 > len(data):
        return  # not a zip: zipfile says so
    entries, size = struct.unpack_from("<HI", data, end + 10)
    locator = end - 20
    zip64 = locator >= 0 and data[locator:locator + 4] == _ZIP64_LOCATOR
    if (entries == 0xFFFF or size == 0xFFFFFFFF) and zip64:
        record = struct.unpack_from("<Q", data, locator + 8)[0]
        if record + 56 <= len(data) and data[record:record + 4] == _ZIP64_END_SIGNATURE:
            entries, size = struct.unpack_from("<QQ", data, record + 32)
    if entries > limits.max_entries or size > limits.max_entries * _MAX_DIRECTORY_RECORD:
        raise ScanFormatError(file, f"the .npz archive's directory is {size:,} bytes for {entries:,} "
                                    f"entries; the limit is {limits.max_entries} entries "
                                    f"(set {ENVIRONMENT['max_entries']} to raise it)")


def _checked_entries(archive: zipfile.ZipFile, file: str, limits: ReadLimits) -> dict[str, zipfile.ZipInfo]:
    """The zip's entries by array key, after the rules on the zip itself."""
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise ScanFormatError(file, f"the .npz archive has {len(infos)} entries, above the limit of "
                                    f"{limits.max_entries} (set {ENVIRONMENT['max_entries']} to raise it)")
    entries: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        key = info.filename.removesuffix(".npy")
        if key in entries:
            raise ScanFormatError(file, f"array {key!r} appears twice in the .npz archive")
        if info.compress_type not in _COMPRESSIONS:
            raise ScanFormatError(file, f"array {key!r} is compressed with zip method "
                                        f"{info.compress_type}; the format reads stored or deflated entries")
        entries[key] = info
    return entries


def _check_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, key: str, file: str,
                 limits: ReadLimits, shape: tuple[int, int] | None) -> None:
    """Refuse an entry from its .npy header: its dtype and rank, its size against ``limits`` and
    ``shape``, and the zip's declared uncompressed size against the size the header implies."""
    with archive.open(entry) as stream:
        version = np.lib.format.read_magic(stream)
        if version not in _HEADER_READERS:
            raise ScanFormatError(file, f"array {key!r} has .npy format version {version}; "
                                        "the format reads 1.0 and 2.0")
        dims, fortran_order, dtype = _HEADER_READERS[version](stream, max_header_size=_MAX_HEADER)
        header_bytes = stream.tell()
    del fortran_order  # either order is read
    if dtype.hasobject:
        raise ScanFormatError(file, f"array {key!r} holds Python objects (pickle); refused")
    rule = header_rule(key, dtype, dims)
    if rule:
        raise ScanFormatError(file, rule)
    bound = limits.max_pixels if key in IMAGE_ARRAYS else limits.max_items
    out_of_range = ScanFormatError(file, f"array {key!r} has shape {tuple(dims)}: each dimension must lie "
                                         f"in [0, {bound:,}]")
    if any(d < 0 for d in dims):  # before the size checks: two negative dimensions multiply to a positive
        raise out_of_range
    if key in IMAGE_ARRAYS:
        height, width = dims[:2]
        if height * width > limits.max_pixels:
            raise ScanFormatError(file, f"array {key!r} is {height}×{width}; {limits.pixel_limit_text()}")
        if shape is not None and (height, width) != tuple(shape):
            raise ScanFormatError(file, f"scan is {height}×{width} but manifest.parquet says "
                                        f"{shape[0]}×{shape[1]}")
    elif key in ITEM_ARRAYS:
        if dims[0] > limits.max_items:
            raise ScanFormatError(file, f"array {key!r} has {dims[0]:,} entries, above the limit of "
                                        f"{limits.max_items:,} items "
                                        f"(set {ENVIRONMENT['max_items']} to raise it)")
        if dtype.kind == "U" and dtype.itemsize // 4 > limits.max_label_chars:
            raise ScanFormatError(file, f"array {key!r} holds labels of {dtype.itemsize // 4} characters, "
                                        f"above the limit of {limits.max_label_chars} "
                                        f"(set {ENVIRONMENT['max_label_chars']} to raise it)")
    if any(d > bound for d in dims):  # a zero-size array too: numpy would overflow on a dimension this large
        raise out_of_range
    implied = header_bytes + math.prod(dims) * dtype.itemsize
    if entry.file_size != implied:
        raise ScanFormatError(file, f"array {key!r}: the zip declares {entry.file_size:,} bytes uncompressed "
                                    f"but its .npy header implies {implied:,}")
