"""What every importer shares: the registry, image decoding, and writing with skipped-file notes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from scans.archive import finish_archive, prepare_archive, write_scan
from scans.errors import ScanFormatError
from scans.images import IMPORT_FORMATS, RAW_MODES, open_image
from scans.limits import ReadLimits
from scans.modalities import ZEFF_CALIBRATION, scan_picture, scan_zeff
from scans.preview import png_bytes
from scans.record import Scan
from scans.registry import Registry
from scans.storage import Location
from scans.zeff_calibration import CALIBRATION_FILE, SIMULATOR, load_calibration

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


def write_archive(out: str, scans: Iterable[Scan | ScanFormatError], info: dict,
                  zeff_calibration: str | None = None) -> ImportReport:
    """Write every scan to a new archive; errors are skipped and listed in archive.json.

    With ``zeff_calibration`` (the scanner's calibration file, or ``simulator``) each raw scan that
    brings no Z_eff gets it derived now, and the file is kept in the archive and named in
    archive.json; without one such scans store no Z and modalities that read Z refuse them."""
    root: Location = prepare_archive(out)
    report = ImportReport(root.uri)
    table, named = None, None
    if zeff_calibration is not None:
        table, provenance = load_calibration(zeff_calibration)
        named = SIMULATOR if provenance == SIMULATOR else {"file": CALIBRATION_FILE, "sha256": provenance,
                                                           "given": zeff_calibration}
        if named != SIMULATOR:
            with open(zeff_calibration, "rb") as f:
                root.write_bytes(CALIBRATION_FILE, f.read())
    rows = []
    for item in scans:
        if isinstance(item, ScanFormatError):
            report.skipped.append({"file": item.file, "error": item.rule})
            continue
        try:
            if table is not None and item.has_raw and item.zeff is None:
                item.meta[ZEFF_CALIBRATION] = SIMULATOR if named == SIMULATOR else table
                item.zeff = scan_zeff(item)
            preview = png_bytes(scan_picture(item)) if item.pseudo is not None or item.has_raw else None
            rows.append(write_scan(root, item, preview))
        except ScanFormatError as err:
            report.skipped.append({"file": err.file, "error": err.rule})
    report.written = len(rows)
    finish_archive(root, rows, {**info, "skipped": report.skipped,
                                **({"zeff_calibration": named} if named is not None else {})})
    return report
