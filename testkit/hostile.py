"""Files made to break a reader: decompression bombs, lying headers and a seeded mutator of valid files."""

from __future__ import annotations

import functools
import io
import multiprocessing
import pickle
import struct
import time
import tracemalloc
import warnings
import zipfile
import zlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from benchmarks.peak_memory import peak_since, reset_peak
from scans.npz import encode_npz

_CHUNK = 1 << 24  # zeros deflated once, the compressed piece repeated (after a full flush it repeats)


def _npy_header(shape: tuple[int, ...], descr: str) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
    return header.getvalue()


def _zip_one(name: str, payload: bytes, method: int, crc: int, size: int, records: int = 1,
             offset: int = 0) -> bytes:
    """A zip of one entry whose data are ``payload`` (already compressed by ``method``), declaring
    ``size`` bytes uncompressed with ``crc``; written by hand so that nothing is decompressed. Its
    central directory repeats the entry's record ``records`` times; an ``offset`` past 4 GiB for
    the entry's local header is written as a zip64 extra field."""
    encoded = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(payload), size,
                        len(encoded), 0) + encoded
    extra = struct.pack("<HHQ", 0x0001, 8, offset) if offset >= 0xFFFFFFFF else b""
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45 if extra else 20, 45 if extra else 20, 0,
                          method, 0, 0x21, crc, len(payload), size, len(encoded), len(extra), 0, 0, 0,
                          0o644 << 16, min(offset, 0xFFFFFFFF)) + encoded + extra
    count = min(records, 0xFFFF)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central) * records,
                      len(local) + len(payload), 0)
    return local + payload + central * records + end


def directory_bomb(records: int = 100_000) -> bytes:
    """A .npz of one small valid array whose central directory lists it ``records`` times (about
    46 bytes a record): zipfile would build an entry object for each before anything is read."""
    header = _npy_header((8, 8), "<f4")
    payload = header + np.full((8, 8), 0.5, np.float32).tobytes()
    return _zip_one("high.npy", payload, zipfile.ZIP_STORED, zlib.crc32(payload), len(payload),
                    records=records)


def offset_lie() -> bytes:
    """A .npz whose one entry's local header is declared (zip64) at byte 2**63."""
    header = _npy_header((8, 8), "<f4")
    return _zip_one("high.npy", header, zipfile.ZIP_STORED, zlib.crc32(header), len(header), offset=2**63)


def deflate_bomb(shape: tuple[int, int] = (20_000, 20_000), key: str = "high", descr: str = "<f4") -> bytes:
    """A valid .npz whose one array, all zeros, is declared ``shape``: 1.6 GB of float32 at the
    default shape in a file of about 1.6 MB, built in about a second."""
    header = _npy_header(shape, descr)
    size = len(header) + int(np.prod(shape)) * np.dtype(descr).itemsize
    if size >= 1 << 32:
        raise ValueError("the hand-written zip has no zip64 records: keep the bomb under 4 GiB")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    zeros = bytes(_CHUNK)
    piece = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeats, rest = divmod(size - len(header), _CHUNK)
    crc = zlib.crc32(header)
    for _ in range(repeats):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(zeros[:rest], crc)
    tail = compressor.compress(zeros[:rest]) + compressor.flush(zlib.Z_FINISH)
    return _zip_one(f"{key}.npy", head + piece * repeats + tail, zipfile.ZIP_DEFLATED, crc, size)


def lying_header(shape: tuple[int, int] = (100_000, 100_000), key: str = "high", descr: str = "<f4") -> bytes:
    """A .npz of about 200 bytes whose array header claims ``shape`` and whose zip entry declares
    the size that shape implies (modulo 4 GiB: the zip has no zip64 records); the data are not there."""
    header = _npy_header(shape, descr)
    declared = len(header) + int(np.prod(shape)) * np.dtype(descr).itemsize
    return _zip_one(f"{key}.npy", header, zipfile.ZIP_STORED, zlib.crc32(header), declared % (1 << 32))


def png_with_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` (a PNG) with its IHDR claiming ``width`` × ``height``, the chunk's CRC made right."""
    start = data.index(b"IHDR")
    fields = struct.pack(">II", width, height) + data[start + 12:start + 17]
    return data[:start + 4] + fields + struct.pack(">I", zlib.crc32(b"IHDR" + fields)) + data[start + 21:]


def tiff_with_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` (a little-endian TIFF) with its first IFD's ImageWidth and ImageLength rewritten."""
    out = bytearray(data)
    ifd = struct.unpack_from("<I", out, 4)[0]
    for index in range(struct.unpack_from("<H", out, ifd)[0]):
        entry = ifd + 2 + 12 * index
        tag, kind = struct.unpack_from("<HH", out, entry)
        if tag in (256, 257):
            value = width if tag == 256 else height
            if kind == 3 and value <= 0xFFFF:  # SHORT: the value sits in the entry's first two bytes
                struct.pack_into("<HIHH", out, entry + 2, 3, 1, value, 0)
            else:  # LONG
                struct.pack_into("<HII", out, entry + 2, 4, 1, value)
    return bytes(out)


@dataclass(frozen=True)
class Cost:
    """What a call did and cost: what it returned or raised, the peak bytes Python and numpy traced,
    the growth of this process's peak RSS (Pillow's and zlib's own buffers too; None where
    /proc/self/clear_refs cannot be written), and the seconds it took."""

    value: object
    raised: Exception | None
    traced_bytes: int
    rss_bytes: int | None
    seconds: float


def measure(call: Callable[[], object]) -> Cost:
    """Run ``call`` and measure it (an exception it raises is returned, not raised)."""
    try:
        rss_before = reset_peak()
    except OSError:
        rss_before = None
    tracemalloc.start()
    start = time.perf_counter()
    value, raised = None, None
    try:
        value = call()
    except Exception as err:  # the caller decides what may escape
        raised = err
    seconds = time.perf_counter() - start
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = None if rss_before is None else peak_since(rss_before)
    return Cost(value, raised, traced, rss, seconds)


def _sendable(value: object) -> bool:
    try:
        pickle.dumps(value)
    except Exception:  # whatever pickling raises: the value stays in the worker
        return False
    return True


def _measured_call(call: Callable, args: tuple) -> Cost:
    """measure(call(*args)) in the measuring process, made fit to send back: a value that does not
    pickle is left out, an error that does not is described by a RuntimeError."""
    cost = measure(functools.partial(call, *args))
    if not _sendable(cost.value):
        cost = replace(cost, value=None)
    if cost.raised is not None and not _sendable(cost.raised):
        cost = replace(cost, raised=RuntimeError(f"{type(cost.raised).__name__}: {cost.raised}"))
    return cost


class IsolatedMeasure:
    """measure() in a process of its own (spawned, one worker), so that the peak resident memory
    is the call's and not whatever the test process's other threads allocated meanwhile. ``call``
    must be importable (a module's function) and its arguments picklable. Use it as a context."""

    def __init__(self, timeout: float = 120.0):
        self.timeout = timeout
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> IsolatedMeasure:
        self._start()
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def _start(self) -> None:
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))

    def __call__(self, call: Callable, *args) -> Cost:
        """The cost of ``call(*args)``; a call that kills its process is a RuntimeError raised in
        the Cost (and the next call gets a fresh process)."""
        try:
            return self._pool.submit(_measured_call, call, args).result(timeout=self.timeout)
        except BrokenProcessPool as err:
            self._start()
            return Cost(None, RuntimeError(f"the measured call killed its process: {err}"), 0, None, 0.0)


@dataclass(frozen=True)
class Mutation:
    """A named change to a file's bytes."""

    name: str
    apply: Callable[[bytes, np.random.Generator], bytes]


def _bit_flips(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for position in rng.integers(0, len(out), size=int(rng.integers(1, 9))):
        out[position] ^= 1 << int(rng.integers(0, 8))
    return bytes(out)


def _truncate(data: bytes, rng: np.random.Generator) -> bytes:
    return data[:int(rng.integers(0, len(data)))]


def _byte_runs(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    start = int(rng.integers(0, len(out)))
    length = int(rng.integers(1, 64))
    out[start:start + length] = bytes([int(rng.integers(0, 256))]) * len(out[start:start + length])
    return bytes(out)


def _npz_arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def _rezip(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": meant
        for name, payload in entries:
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), payload, method)
    return buffer.getvalue()


def _entries(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def _drop_key(data: bytes, rng: np.random.Generator) -> bytes:
    entries = _entries(data)
    del entries[int(rng.integers(0, len(entries)))]
    return _rezip(entries)


def _duplicate_key(data: bytes, rng: np.random.Generator) -> bytes:
    entries = _entries(data)
    return _rezip([*entries, entries[int(rng.integers(0, len(entries)))]])


def _rename_key(data: bytes, rng: np.random.Generator) -> bytes:
    entries = _entries(data)
    index = int(rng.integers(0, len(entries)))
    names = ["high.npy", "low.npy", "pseudo.npy", "objects.npy", "x.npy", "high", "../high.npy", ""]
    entries[index] = (names[int(rng.integers(0, len(names)))] or "a.npy", entries[index][1])
    return _rezip(entries)


def _many_entries(data: bytes, rng: np.random.Generator) -> bytes:
    entries = _entries(data)
    extra = [(f"extra{i}.npy", entries[0][1][:64]) for i in range(int(rng.integers(60, 200)))]
    return _rezip(entries + extra)


def _other_compression(data: bytes, rng: np.random.Generator) -> bytes:
    method = [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, zipfile.ZIP_STORED][int(rng.integers(0, 3))]
    return _rezip(_entries(data), method)


def _swap_dtype(data: bytes, rng: np.random.Generator) -> bytes:
    arrays = _npz_arrays(data)
    key = sorted(arrays)[int(rng.integers(0, len(arrays)))]
    dtypes = ["float64", "float16", ">f4", "int8", "uint16", "int64", "bool", "complex64", "U3"]
    try:
        arrays[key] = arrays[key].astype(dtypes[int(rng.integers(0, len(dtypes)))])
    except (ValueError, TypeError):
        arrays[key] = np.zeros(arrays[key].shape, np.float64)
    return encode_npz(arrays)


def _swap_shape(data: bytes, rng: np.random.Generator) -> bytes:
    arrays = _npz_arrays(data)
    key = sorted(arrays)[int(rng.integers(0, len(arrays)))]
    value = arrays[key]
    choices = [value.ravel(), value[..., None], value.T if value.ndim >= 2 else value[None],
               value[: max(1, len(value) // 2)], np.zeros((0, *value.shape[1:]), value.dtype)]
    arrays[key] = choices[int(rng.integers(0, len(choices)))]
    return encode_npz(arrays)


def _rewrite_header(data: bytes, rng: np.random.Generator) -> bytes:
    """An entry's .npy header rewritten (shape, dtype or order) over its old data; the zip's sizes are
    those of the new payload."""
    entries = _entries(data)
    index = int(rng.integers(0, len(entries)))
    name, payload = entries[index]
    stream = io.BytesIO(payload)
    try:
        np.lib.format.read_magic(stream)
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    except ValueError:
        return _bit_flips(data, rng)
    body = payload[stream.tell():]
    choice = int(rng.integers(0, 7))
    if choice == 0:
        shape = tuple(int(s) * int(rng.integers(2, 100)) for s in shape) or (10**6,)
    elif choice == 1:
        shape = (*shape, 3)
    elif choice == 2:
        dtype = np.dtype(["<f8", "<i2", "|O", "<U100000", "|V8"][int(rng.integers(0, 5))])
    elif choice == 3:
        fortran = not fortran
    elif choice == 4:
        shape = (2**31, 2**31)[: max(1, len(shape))]
    elif choice == 5:  # no elements, but a dimension beyond any index
        shape = [(0, 2**64), (2**70, 0), (0,) * len(shape)][int(rng.integers(0, 3))][: max(1, len(shape))]
    else:
        shape = tuple(-int(s) - 1 for s in shape)
    try:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                      "fortran_order": fortran, "shape": shape})
    except ValueError:
        return _bit_flips(data, rng)
    entries[index] = (name, header.getvalue() + body)
    return _rezip(entries)


def _bomb(data: bytes, rng: np.random.Generator, max_pixels: int) -> bytes:
    """A bomb declaring between 1.2 and 4 times ``max_pixels``: refused by a reader at that limit."""
    side = int(rng.integers(int(1.1 * max_pixels**0.5), 2 * int(max_pixels**0.5) + 1))
    return deflate_bomb((side, side), key=["high", "pseudo", "objects", "zeff"][int(rng.integers(0, 4))],
                        descr="<f4")


def _zip_structure_lie(data: bytes, rng: np.random.Generator) -> bytes:
    return directory_bomb(int(rng.integers(1_000, 50_000))) if rng.integers(0, 2) else offset_lie()


def _lying(data: bytes, rng: np.random.Generator) -> bytes:
    side = int(rng.integers(10_000, 200_001))
    return lying_header((side, side), key=["high", "low", "anomaly"][int(rng.integers(0, 3))])


def _image_size_lie(data: bytes, rng: np.random.Generator) -> bytes:
    width, height = (int(v) for v in rng.integers(1, 120_000, size=2))
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return png_with_size(data, width, height)
    if data[:4] == b"II*\x00":
        return tiff_with_size(data, width, height)
    return _bit_flips(data, rng)


BYTE_MUTATIONS = [Mutation("bit_flips", _bit_flips), Mutation("truncate", _truncate),
                  Mutation("byte_run", _byte_runs)]
IMAGE_MUTATIONS = [*BYTE_MUTATIONS, Mutation("size_lie", _image_size_lie)]


def npz_mutations(max_pixels: int) -> list[Mutation]:
    """Every mutation of an .npz; its bombs are sized against a reader's ``max_pixels``."""
    return [*BYTE_MUTATIONS, Mutation("drop_key", _drop_key), Mutation("duplicate_key", _duplicate_key),
            Mutation("rename_key", _rename_key), Mutation("many_entries", _many_entries),
            Mutation("other_compression", _other_compression), Mutation("swap_dtype", _swap_dtype),
            Mutation("swap_shape", _swap_shape), Mutation("rewrite_header", _rewrite_header),
            Mutation("bomb", functools.partial(_bomb, max_pixels=max_pixels)),
            Mutation("lying_header", _lying), Mutation("zip_structure_lie", _zip_structure_lie)]


def mutate(data: bytes, kind: str, rng: np.random.Generator, max_pixels: int) -> tuple[str, bytes]:
    """One mutation of a valid file of ``kind`` ("npz" or "image") for a reader limited to
    ``max_pixels``: its name and the new bytes."""
    mutations = npz_mutations(max_pixels) if kind == "npz" else IMAGE_MUTATIONS
    mutation = mutations[int(rng.integers(0, len(mutations)))]
    return mutation.name, mutation.apply(data, rng)


def image_bytes(array: np.ndarray, format_: str) -> bytes:
    """``array`` (uint8 RGB or uint16 grey) as PNG or TIFF bytes."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=format_)
    return buffer.getvalue()
