"""Detector realism: blur, per-column gain, quantum and electronic noise, 16-bit quantisation."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

QUANTISATION_LEVELS = 65535  # 16-bit detector output


@dataclass(frozen=True)
class DetectorNoise:
    """Noise and blur of a line-scan dual-energy detector, applied to ideal transmissions."""

    photons_low: float = 2.0e4  # I0 per pixel, low channel
    photons_high: float = 4.0e4  # I0 per pixel, high channel
    electronic_sigma: float = 2.0e-4  # additive Gaussian noise, in transmission units
    column_gain_sigma: float = 3.0e-3  # residual per-column gain after flat-field correction
    blur_sigma_px: float = 0.7  # focal spot and scintillator spread
    quantise: bool = True

    def as_dict(self) -> dict[str, float | bool]:
        """Plain dict of the parameters (for archive metadata)."""
        return asdict(self)

    def apply(
        self, low: np.ndarray, high: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Noisy, quantised (T_low, T_high), float32 in (0, 1]."""
        return (
            self._channel(low, self.photons_low, rng),
            self._channel(high, self.photons_high, rng),
        )

    def _channel(self, ideal: np.ndarray, photons: float, rng: np.random.Generator) -> np.ndarray:
        signal = np.asarray(ideal, dtype=np.float32)
        if self.blur_sigma_px > 0:
            signal = ndimage.gaussian_filter(signal, self.blur_sigma_px, mode="nearest")
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
