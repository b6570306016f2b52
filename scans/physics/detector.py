"""Detector realism in physical units: blur and Z smoothing in mm, quantum noise per mm², gain, 16 bits."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

QUANTISATION_LEVELS = 65535  # 16-bit detector output
# The pitch the detector's defaults were tuned at: the 50 cm tray across 256 pixels. At this pitch
# the defaults give 0.7 px of blur, 1 px of Z smoothing and 2·10⁴ / 4·10⁴ photons per pixel.
REFERENCE_PITCH_MM = 500.0 / 256
ZEFF_SMOOTH_MM = 1.0 * REFERENCE_PITCH_MM  # the window a scanner averages R over for Z_eff


@dataclass(frozen=True)
class DetectorNoise:
    """Noise and blur of a line-scan dual-energy detector, applied to ideal transmissions sampled
    at ``pitch_mm``. Blur and Z smoothing are in millimetres and the photon flux is per mm², so a
    scene looks the same at any pixel pitch, only sampled finer or coarser; the electronic noise
    and the column gain stay per pixel (they belong to each detector element)."""

    photons_low_per_mm2: float = 2.0e4 / REFERENCE_PITCH_MM**2  # I0 per mm², low channel
    photons_high_per_mm2: float = 4.0e4 / REFERENCE_PITCH_MM**2  # I0 per mm², high channel
    electronic_sigma: float = 2.0e-4  # additive Gaussian noise, in transmission units
    column_gain_sigma: float = 3.0e-3  # residual per-column gain after flat-field correction
    blur_sigma_mm: float = 0.7 * REFERENCE_PITCH_MM  # focal spot and scintillator spread
    zeff_smooth_mm: float = ZEFF_SMOOTH_MM  # Gaussian σ of the window R is averaged over for Z_eff
    quantise: bool = True

    def as_dict(self) -> dict[str, float | bool]:
        """Plain dict of the parameters (for archive metadata)."""
        return asdict(self)

    def photons(self, pitch_mm: float) -> tuple[float, float]:
        """(low, high) I0 per pixel of side ``pitch_mm``."""
        area = pitch_mm * pitch_mm
        return self.photons_low_per_mm2 * area, self.photons_high_per_mm2 * area

    def zeff_smooth_px(self, pitch_mm: float) -> float:
        """The Z_eff smoothing window in pixels of side ``pitch_mm``."""
        return self.zeff_smooth_mm / pitch_mm

    def apply(
        self, low: np.ndarray, high: np.ndarray, rng: np.random.Generator,
        pitch_mm: float = REFERENCE_PITCH_MM,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Noisy, quantised (T_low, T_high), float32 in (0, 1], for pixels of side ``pitch_mm``."""
        if not pitch_mm > 0:
            raise ValueError(f"pitch_mm must be positive, got {pitch_mm}")
        photons_low, photons_high = self.photons(pitch_mm)
        blur_px = self.blur_sigma_mm / pitch_mm
        return (
            self._channel(low, photons_low, blur_px, rng),
            self._channel(high, photons_high, blur_px, rng),
        )

    def _channel(self, ideal: np.ndarray, photons: float, blur_px: float,
                 rng: np.random.Generator) -> np.ndarray:
        signal = np.asarray(ideal, dtype=np.float32)
        if blur_px > 0:
            signal = ndimage.gaussian_filter(signal, blur_px, mode="nearest")
        if self.column_gain_sigma > 0:
            gain = 1.0 + self.column_gain_sigma * rng.standard_normal(signal.shape[1])
            signal = signal * gain[None, :].astype(np.float32)
        if photons > 0:
            signal = rng.poisson(np.clip(signal, 0.0, None) * photons).astype(np.float32) / photons
        if self.electronic_sigma > 0:
            signal = signal + self.electronic_sigma * rng.standard_normal(signal.shape, np.float32)
        if self.quantise:
            signal = np.round(np.clip(signal, 0.0, 1.0) * QUANTISATION_LEVELS) / QUANTISATION_LEVELS
        return np.clip(signal, 1.0 / QUANTISATION_LEVELS, 1.0).astype(np.float32)
