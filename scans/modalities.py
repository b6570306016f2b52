"""Input modalities registry: each turns a Scan into a float32 C×H×W array with a fixed scale."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scans.physics.colour import render_pseudo_colour
from scans.record import Scan
from scans.registry import Registry

ZEFF_SCALE = 30.0  # zeff channel = Z / 30, clipped to [0, 1]: Cu (29) near the top
ATTENUATION_SCALE = 4.0  # log channels = −ln(T) / 4: 0 in air, 1 at T = e⁻⁴ (about 2 % through)
MIN_TRANSMISSION = 1e-4  # log channels clip T here (a detector floor), so metal stays finite
ZEFF_SMOOTH_SIGMA = 1.0  # px: smoothing used when Z is derived from noisy high/low of unknown pitch


class ModalityError(ValueError):
    """A modality name is unknown, or a scan cannot provide it."""


@dataclass(frozen=True)
class Modality:
    """A named input: its channel count, whether it needs raw high/low, its builder, and each
    channel's value where the beam meets nothing (air: what a masked-out pixel should read), and
    which channels scale with the thickness the beam crosses (``thickness``: a gain jitter may act on
    those; effective Z does not change with thickness), and the single modality each channel is
    (``sources``: hlz's are high, low and zeff)."""

    name: str
    channels: int
    needs_raw: bool
    description: str
    build: Callable[[Scan], np.ndarray]
    air: tuple[float, ...]
    thickness: tuple[bool, ...]
    sources: tuple[str, ...]


MODALITIES: Registry[Modality] = Registry("modality")


def register_modality(name: str, channels: int, needs_raw: bool, description: str,
                      air: tuple[float, ...], thickness: tuple[bool, ...] | None = None,
                      sources: tuple[str, ...] | None = None):
    """Decorator adding a modality builder to the registry; ``air`` is each channel's value in air,
    ``thickness`` whether each scales with the thickness crossed (default: all do), ``sources``
    the single modality each channel is (default: this one)."""

    def add(build: Callable[[Scan], np.ndarray]) -> Callable[[Scan], np.ndarray]:
        if "+" in name:
            raise ValueError("modality names cannot contain '+' (it joins modalities)")
        if len(air) != channels:
            raise ValueError(f"modality {name!r}: {len(air)} air values for {channels} channels")
        scales = (True,) * channels if thickness is None else tuple(thickness)
        if len(scales) != channels:
            raise ValueError(f"modality {name!r}: {len(scales)} thickness flags for {channels} channels")
        origin = (name,) * channels if sources is None else tuple(sources)
        if len(origin) != channels:
            raise ValueError(f"modality {name!r}: {len(origin)} sources for {channels} channels")
        MODALITIES.add(name, Modality(name, channels, needs_raw, description, build, tuple(air), scales,
                                      origin))
        return build

    return add


ZEFF_CALIBRATION = "zeff_calibration"  # Scan.meta key: the scanner's Z table, or "simulator"


def scan_zeff(scan: Scan) -> np.ndarray:
    """The scan's Z_eff: stored, or derived from high/low by the calibration its scanner gave
    (``scan.meta["zeff_calibration"]``: a table, or "simulator" for scans the simulator wrote).
    Never by a calibration the scan does not name: Z from another scanner's table is wrong."""
    if scan.zeff is not None:
        return scan.zeff
    _require_raw(scan, "zeff")
    calibration = scan.meta.get(ZEFF_CALIBRATION)
    if calibration is None:
        raise ModalityError(
            f"scan {scan.scan_id!r} has high/low but no Z_eff, and no Z_eff calibration was given for its "
            "scanner: give one (--zeff-calibration FILE, or zeff_calibration.json beside the scans; "
            "docs/formats.md), or X_zeff images, or use a modality without Z (high, low, high_log, low_log)")
    from scans.physics.calibration import effective_z  # xraydb and scipy: only when Z is derived
    from scans.physics.detector import ZEFF_SMOOTH_MM

    pitch = scan.meta.get("pitch_mm")  # known: smooth over the scanner's window in mm, as synthesis does
    sigma = ZEFF_SMOOTH_MM / pitch if isinstance(pitch, int | float) and pitch > 0 else ZEFF_SMOOTH_SIGMA
    table = None if isinstance(calibration, str) else calibration  # "simulator": the simulated scanner's
    zeff, _ = effective_z(scan.high, scan.low, smooth_sigma=sigma, calibration=table)
    return zeff


def scan_pseudo(scan: Scan) -> np.ndarray:
    """The scan's pseudo-colour image: stored, or rendered from Z_eff and high."""
    if scan.pseudo is not None:
        return scan.pseudo
    return render_pseudo_colour(scan_zeff(scan), scan.high)


def scan_picture(scan: Scan) -> np.ndarray:
    """uint8 (H, W, 3) to show a person: the pseudo-colour image where the scan has or can render
    one, else its high-energy transmission in grey (raw scans whose Z is unknown)."""
    try:
        return scan_pseudo(scan)
    except ModalityError:
        if scan.high is None:
            raise
        grey = (np.clip(scan.high, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)


def modality_needs_zeff(spec: str) -> bool:
    """Whether a modality spec reads effective Z (zeff, hlz, hlz_log)."""
    return any(source == "zeff" for name in parse_modality(spec) for source in MODALITIES[name].sources)


def _require_raw(scan: Scan, modality: str) -> None:
    if not scan.has_raw:
        raise ModalityError(
            f"modality {modality!r} needs the raw high/low channels, but scan {scan.scan_id!r} "
            "has only pseudo-colour; use the 'pseudo' modality for it"
        )


@register_modality("pseudo", 3, False, "pseudo-colour RGB / 255, in [0, 1]", air=(1.0, 1.0, 1.0))
def _pseudo(scan: Scan) -> np.ndarray:
    return scan_pseudo(scan).transpose(2, 0, 1).astype(np.float32) / 255.0


@register_modality("high", 1, True, "high-energy transmission I/I0, in (0, 1]", air=(1.0,))
def _high(scan: Scan) -> np.ndarray:
    _require_raw(scan, "high")
    return scan.high[None].astype(np.float32, copy=False)


@register_modality("low", 1, True, "low-energy transmission I/I0, in (0, 1]", air=(1.0,))
def _low(scan: Scan) -> np.ndarray:
    _require_raw(scan, "low")
    return scan.low[None].astype(np.float32, copy=False)


@register_modality("zeff", 1, True, f"effective Z / {ZEFF_SCALE:g}, in [0, 1]; 0 = air or impenetrable",
                   air=(0.0,), thickness=(False,))
def _zeff(scan: Scan) -> np.ndarray:
    return np.clip(scan_zeff(scan) / ZEFF_SCALE, 0.0, 1.0)[None].astype(np.float32)


@register_modality("hlz", 3, True, "high, low and zeff stacked, each scaled as above", air=(1.0, 1.0, 0.0),
                   thickness=(True, True, False), sources=("high", "low", "zeff"))
def _hlz(scan: Scan) -> np.ndarray:
    return np.concatenate([_high(scan), _low(scan), _zeff(scan)])


def attenuation(transmission: np.ndarray) -> np.ndarray:
    """−ln(T) / ATTENUATION_SCALE: Beer–Lambert's line integral of μ, additive through overlapping
    parts (an anomaly under a battery adds its own attenuation, where in T it multiplies)."""
    clipped = np.clip(transmission, MIN_TRANSMISSION, 1.0)
    return (-np.log(clipped) / ATTENUATION_SCALE).astype(np.float32)


@register_modality("high_log", 1, True,
                   f"high-energy attenuation −ln(I/I0) / {ATTENUATION_SCALE:g}, 0 in air", air=(0.0,))
def _high_log(scan: Scan) -> np.ndarray:
    return attenuation(_high(scan))


@register_modality("low_log", 1, True, f"low-energy attenuation −ln(I/I0) / {ATTENUATION_SCALE:g}, 0 in air",
                   air=(0.0,))
def _low_log(scan: Scan) -> np.ndarray:
    return attenuation(_low(scan))


@register_modality("hlz_log", 3, True, "high and low attenuation and zeff stacked, each scaled as above",
                   air=(0.0, 0.0, 0.0), thickness=(True, True, False),
                   sources=("high_log", "low_log", "zeff"))
def _hlz_log(scan: Scan) -> np.ndarray:
    return np.concatenate([_high_log(scan), _low_log(scan), _zeff(scan)])


def parse_modality(spec: str) -> tuple[str, ...]:
    """Split a '+'-joined modality spec into registered names; unknown names list the valid ones."""
    names = tuple(part.strip() for part in spec.split("+"))
    for name in names:
        if name not in MODALITIES:
            raise ModalityError(
                f"unknown modality {name!r} in {spec!r}; valid: {', '.join(MODALITIES)} "
                "or any '+'-joined combination (e.g. pseudo+hlz)"
            )
    return names


def modality_channels(spec: str) -> int:
    """Channel count of a modality spec, e.g. 6 for 'pseudo+hlz'."""
    return sum(MODALITIES[name].channels for name in parse_modality(spec))


def modality_air(spec: str) -> tuple[float, ...]:
    """Each channel's value in air for a modality spec (white pseudo-colour, transmission 1, Z 0):
    what a masked-out pixel reads, rather than 0, which is black, impenetrable metal."""
    return tuple(v for name in parse_modality(spec) for v in MODALITIES[name].air)


def modality_thickness(spec: str) -> tuple[bool, ...]:
    """Whether each channel of a modality spec scales with the thickness the beam crosses (Z does not)."""
    return tuple(v for name in parse_modality(spec) for v in MODALITIES[name].thickness)


# how a channel of each single modality reads as a physical quantity
_PHYSICAL = {"zeff": ("zeff", lambda x: x * ZEFF_SCALE),
             "high": ("high_attenuation", lambda x: -np.log(np.clip(x, MIN_TRANSMISSION, 1.0))),
             "high_log": ("high_attenuation", lambda x: x * ATTENUATION_SCALE)}


def physical_channel(spec: str, image: np.ndarray, quantity: str) -> np.ndarray | None:
    """The (H, W) ``quantity`` (``zeff``: effective Z; ``high_attenuation``: −ln T at high energy)
    read from a C×H×W input of modality ``spec``, or None when the modality does not carry it."""
    sources = [source for name in parse_modality(spec) for source in MODALITIES[name].sources]
    for index, source in enumerate(sources):
        if source in _PHYSICAL and _PHYSICAL[source][0] == quantity:
            return _PHYSICAL[source][1](np.asarray(image[index], np.float32))
    return None


def modality_needs_raw(spec: str) -> bool:
    """Whether a modality spec needs raw high/low channels."""
    return any(MODALITIES[name].needs_raw for name in parse_modality(spec))


def build_input(scan: Scan, spec: str) -> np.ndarray:
    """The scan as the modality spec's float32 C×H×W array."""
    names = parse_modality(spec)
    for name in names:
        if MODALITIES[name].needs_raw:
            _require_raw(scan, name)
    arrays = [MODALITIES[name].build(scan) for name in names]
    return np.concatenate(arrays).astype(np.float32, copy=False)
