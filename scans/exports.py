"""A scanner's exported images, named by one scheme for importing and for folder scoring: X.png is
X's pseudo-colour image, X_high and X_low its raw transmissions (8- or 16-bit grey, with the scale
that maps values to transmission), X_zeff its effective Z; decoded here into one Scan."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ValidationError, model_validator

from scans.errors import ScanFormatError
from scans.images import RAW_MODES
from scans.modalities import ZEFF_CALIBRATION
from scans.record import Scan
from scans.schema import STRICT

EXPORT_EXTENSIONS = (".png", ".tif", ".tiff")
ROLE_SUFFIXES = {"high": "_high", "low": "_low", "zeff": "_zeff"}  # no suffix: the pseudo-colour image
ROLES = ("pseudo", *ROLE_SUFFIXES)
RAW_SCALE_FILE = "raw_scale.json"  # a folder's raw scale, beside its images
FULL_SCALE = {8: 255.0, 16: 65535.0}
MIN_TRANSMISSION = 1.0 / 65535.0  # a raw value at or below the dark level reads as this
ZEFF_16BIT_DIVISOR = 100.0  # a 16-bit X_zeff image holds round(100 × Z)
MAX_ZEFF = 100.0
PSEUDO_MODES = ("RGB", "RGBA", "P")


def split_role(stem: str) -> tuple[str, str]:
    """(scan stem, role) of a file stem: ``bag_high`` → (bag, high), ``bag`` → (bag, pseudo)."""
    for role, suffix in ROLE_SUFFIXES.items():
        if stem.endswith(suffix) and len(stem) > len(suffix):
            return stem.removesuffix(suffix), role
    return stem, "pseudo"


def group_exports(files: list[tuple[str, str]]) -> dict[str, dict[str, str]]:
    """Scan stem → {role: path} of ``files`` (relative stem without extension, path), in stem order.
    Two files of one scan and role (X_high.png and X_high.tif) are a ScanFormatError."""
    groups: dict[str, dict[str, str]] = {}
    for stem, path in sorted(files):
        scan, role = split_role(stem)
        roles = groups.setdefault(scan, {})
        if role in roles:
            raise ScanFormatError(path, f"a second {role} image of scan {scan!r} (also {roles[role]})")
        roles[role] = path
    return groups


class EnergyScale(BaseModel):
    """Raw values of one energy: ``air`` is the value with nothing in the beam (transmission 1; default
    the bit depth's full scale), ``dark`` the value with the beam off (transmission 0; default 0)."""

    model_config = STRICT

    air: float | None = None
    dark: float = 0.0

    @model_validator(mode="after")
    def _ordered(self) -> EnergyScale:
        if self.dark < 0 or (self.air is not None and self.air <= self.dark):
            raise ValueError(f"air ({self.air}) must exceed dark ({self.dark}) ≥ 0")
        return self

    def transmission(self, values: np.ndarray, bits: int) -> np.ndarray:
        """float32 transmission (value − dark) / (air − dark), clipped to [MIN_TRANSMISSION, 1]."""
        air = FULL_SCALE[bits] if self.air is None else self.air
        out = (values.astype(np.float32) - np.float32(self.dark)) / np.float32(air - self.dark)
        return np.clip(out, MIN_TRANSMISSION, 1.0, out=out)


class RawScale(BaseModel):
    """How a folder's raw values map to transmission, per energy (``raw_scale.json``:
    ``{"high": {"air": 60000, "dark": 200}, "low": {"air": 58000}}``)."""

    model_config = STRICT

    high: EnergyScale = EnergyScale()
    low: EnergyScale = EnergyScale()

    def describe(self) -> dict[str, Any]:
        """What the report and archive.json record."""
        return self.model_dump()


def read_raw_scale(data: bytes, file: str) -> RawScale:
    """A raw scale file's content; ScanFormatError naming the file and field."""
    try:
        return RawScale.model_validate(json.loads(data))
    except json.JSONDecodeError as err:
        raise ScanFormatError(file, f"not JSON ({err})") from None
    except ValidationError as err:
        first = err.errors()[0]
        raise ScanFormatError(file, f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None


def raw_scale_from_values(air: float | None, dark: float | None) -> RawScale:
    """The same scale for both energies from ``--raw-air`` and ``--raw-dark``."""
    try:
        energy = EnergyScale(air=air, dark=dark or 0.0)
    except ValidationError as err:
        raise ValueError(f"--raw-air/--raw-dark: {err.errors()[0]['msg']}") from None
    return RawScale(high=energy, low=energy)


@dataclass(frozen=True)
class ExportSettings:
    """What decoding a folder's exports needs beyond the files: the raw scale, and the scanner's Z
    table ("simulator", a ZeffCalibration, or None: no Z from high/low)."""

    raw_scale: RawScale = field(default_factory=RawScale)
    zeff_calibration: Any = None


def decode_pseudo(image: Image.Image, file: str) -> np.ndarray:
    """uint8 (H, W, 3) of a pseudo-colour image; a grey image is refused, never read as pseudo-colour."""
    if image.mode in (*RAW_MODES, "F"):
        raise ScanFormatError(file, f"a {image.mode} image is raw, not pseudo-colour: name raw images "
                                    "X_high and X_low (docs/formats.md)")
    if image.mode not in PSEUDO_MODES:
        raise ScanFormatError(file, f"a grey ({image.mode}) image is not pseudo-colour: name raw images "
                                    "X_high and X_low, effective Z X_zeff (docs/formats.md)")
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def decode_raw(image: Image.Image, file: str, scale: EnergyScale) -> np.ndarray:
    """float32 transmission of an 8- or 16-bit grey raw image by ``scale``."""
    if image.mode == "L":
        values, bits = np.asarray(image), 8
    elif image.mode in RAW_MODES:
        values, bits = np.asarray(image), 16
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 65535:
            raise ScanFormatError(file, f"16-bit values out of range [{low}, {high}]")
    else:
        raise ScanFormatError(file, f"a raw transmission image must be 8- or 16-bit grey, not {image.mode}")
    if scale.air is not None and scale.air > FULL_SCALE[bits]:
        raise ScanFormatError(file, f"the raw scale's air value {scale.air:g} exceeds this {bits}-bit "
                                    f"image's full scale {FULL_SCALE[bits]:g}")
    return scale.transmission(values, bits)


def decode_zeff(image: Image.Image, file: str) -> np.ndarray:
    """float32 effective Z of an X_zeff image: a 32-bit float TIFF holds Z, a 16-bit image 100 × Z."""
    if image.mode == "F":
        zeff = np.asarray(image, dtype=np.float32)
    elif image.mode in RAW_MODES:
        zeff = np.asarray(image).astype(np.float32) / np.float32(ZEFF_16BIT_DIVISOR)
    else:
        raise ScanFormatError(file, f"an effective-Z image must be a 32-bit float TIFF of Z or 16-bit of "
                                    f"100 × Z, not {image.mode} (an 8-bit image cannot hold Z)")
    if not np.isfinite(zeff).all() or zeff.min() < 0 or zeff.max() > MAX_ZEFF:
        raise ScanFormatError(file, f"effective Z must lie in [0, {MAX_ZEFF:g}], got "
                                    f"[{np.nanmin(zeff):g}, {np.nanmax(zeff):g}]")
    return zeff


def assemble_scan(scan_id: str, images: dict[str, tuple[Image.Image, str]], settings: ExportSettings,
                  source: str, **fields) -> Scan:
    """One Scan from its decoded export images ({role: (image, file)}); ScanFormatError when a raw
    image lacks its partner, only Z is given, or the images differ in size."""
    if ("high" in images) != ("low" in images):
        have, lack = ("high", "low") if "high" in images else ("low", "high")
        raise ScanFormatError(images[have][1],
                              f"raw pair incomplete: {scan_id}{ROLE_SUFFIXES[lack]} is missing")
    if "high" not in images and "pseudo" not in images:
        raise ScanFormatError(images["zeff"][1], f"an effective-Z image alone is no scan (it needs "
                                                 f"{scan_id}_high and {scan_id}_low, or {scan_id}.png)")
    arrays: dict[str, np.ndarray] = {}
    if "pseudo" in images:
        arrays["pseudo"] = decode_pseudo(*images["pseudo"])
    if "high" in images:
        arrays["high"] = decode_raw(*images["high"], settings.raw_scale.high)
        arrays["low"] = decode_raw(*images["low"], settings.raw_scale.low)
    if "zeff" in images:
        arrays["zeff"] = decode_zeff(*images["zeff"])
    shapes = {role: array.shape[:2] for role, array in arrays.items()}
    if len(set(shapes.values())) > 1:
        sizes = ", ".join(f"{role} {h}×{w}" for role, (h, w) in shapes.items())
        raise ScanFormatError(source, f"the images of scan {scan_id} differ in size ({sizes})")
    scan = Scan(scan_id, source=source, **arrays, **fields)
    if scan.zeff is None and scan.has_raw and settings.zeff_calibration is not None:
        scan.meta[ZEFF_CALIBRATION] = settings.zeff_calibration
    return scan
