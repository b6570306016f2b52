"""Byte-exact .npz encoding (fixed zip timestamps) and safe decoding (never unpickles)."""

from __future__ import annotations

import io
import zipfile
import zlib

import numpy as np

from scans.errors import ScanFormatError

# zip entries get this timestamp so the same arrays always give the same bytes.
_EPOCH = (1980, 1, 1, 0, 0, 0)


def encode_npz(arrays: dict[str, np.ndarray], compresslevel: int = 1) -> bytes:
    """Compressed .npz bytes readable by ``np.load``; deterministic for the same arrays."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=compresslevel) as archive:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            payload = io.BytesIO()
            np.lib.format.write_array(payload, np.asanyarray(value), allow_pickle=False)
            archive.writestr(info, payload.getvalue(), zipfile.ZIP_DEFLATED, compresslevel)
    return buffer.getvalue()


def decode_npz(data: bytes, file: str) -> dict[str, np.ndarray]:
    """Every array of an .npz, loaded with ``allow_pickle=False``; any failure names ``file``."""
    if not data:
        raise ScanFormatError(file, "file is empty (0 bytes)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            keys = list(npz.files)
            arrays = {}
            for key in keys:
                try:
                    arrays[key] = npz[key]
                except ValueError as err:
                    if "allow_pickle" in str(err) or "Object arrays" in str(err):
                        raise ScanFormatError(
                            file, f"array {key!r} holds Python objects (pickle); refused"
                        ) from None
                    raise
    except ScanFormatError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as err:
        raise ScanFormatError(file, f"not a readable .npz archive ({type(err).__name__}: {err})") from None
    if not keys:
        raise ScanFormatError(file, "the .npz archive holds no arrays")
    return arrays
