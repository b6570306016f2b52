"""What every importer shares: the registry, image decoding, and writing with skipped-file notes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from scans.archive import finish_archive, prepare_archive, write_scan
from scans.errors import ScanFormatError
from scans.images import IMPORT_FORMATS, RAW_MODES, open_image
from scans.limits import ReadLimits
from scans.preview import png_bytes
from scans.record import Scan
from scans.registry import Registry
from scans.storage import Location

Importer = Callable[..., "ImportReport"]
IMPORTERS: Registry[Importer] = Registry("import format")


@dataclass
class ImportReport:
    """Where the archive went, how many scans were written and which files were skipped, and why."""

    archive: str
    written: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)


def read_image(path: str, limits: ReadLimits | None = None) -> np.ndarray:
    """Decode an image file to a numpy array (uint8 or uint16 grey, or uint8 RGB) within ``limits``."""
    with open_image(path, path, limits, IMPORT_FORMATS) as image:
        if image.mode in RAW_MODES:
            return np.asarray(image).astype(np.uint16)
        if image.mode in ("L", "P", "1", "LA"):
            return np.asarray(image.convert("L"))
        return np.asarray(image.convert("RGB"))


def to_transmission(image: np.ndarray, path: str) -> np.ndarray:
    """A grey detector image (bright = air) as transmission float32 in (0, 1]."""
    if image.ndim != 2:
        raise ScanFormatError(path, f"expected a single-channel image, got shape {image.shape}")
    full_scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(image.dtype)
    if full_scale is None:
        raise ScanFormatError(path, f"unsupported pixel type {image.dtype} (8- or 16-bit grey)")
    return np.clip(image.astype(np.float32) / full_scale, 1.0 / 65535.0, 1.0)


def to_pseudo(image: np.ndarray, path: str) -> np.ndarray:
    """A pseudo-colour image as uint8 H×W×3."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ScanFormatError(path, f"expected 8-bit RGB pseudo-colour, got {image.dtype} {image.shape}")
    return image


def write_archive(out: str, scans: Iterable[Scan | ScanFormatError], info: dict) -> ImportReport:
    """Write every scan to a new archive; errors are skipped and listed in archive.json."""
    root: Location = prepare_archive(out)
    report = ImportReport(root.uri)
    rows = []
    for item in scans:
        if isinstance(item, ScanFormatError):
            report.skipped.append({"file": item.file, "error": item.rule})
            continue
        try:
            preview = png_bytes(item.pseudo) if item.pseudo is not None else None
            rows.append(write_scan(root, item, preview))
        except ScanFormatError as err:
            report.skipped.append({"file": err.file, "error": err.rule})
    report.written = len(rows)
    finish_archive(root, rows, {**info, "skipped": report.skipped})
    return report
