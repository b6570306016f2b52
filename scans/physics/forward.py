"""Polychromatic forward model: per-material areal densities to low/high transmissions."""

from __future__ import annotations

from functools import cache

import numpy as np

from scans.physics.materials import MATERIALS, get_material
from scans.physics.spectrum import ScannerModel, detector_response
from scans.physics.tables import physics_table

_BLOCK = 8192  # pixels per block: (block × energies) float32 fits in L2


@cache
def attenuation_matrix(materials: tuple[str, ...], scanner: ScannerModel = ScannerModel()) -> np.ndarray:
    """mu/rho (cm^2/g) of each material at each energy of the scanner's grid: (M, E) float32."""
    energies = detector_response(scanner).energies_kev

    def build() -> dict[str, np.ndarray]:
        return {"mu": np.stack([get_material(m).mass_attenuation(energies) for m in materials]).astype(
            np.float32)}

    identity = {"scanner": scanner.as_dict(), "materials": [repr(get_material(m)) for m in materials]}
    return physics_table("attenuation", identity, build)["mu"]


def all_materials() -> tuple[str, ...]:
    """Names of every registered material, in registry order (the areal-density channel order)."""
    return tuple(MATERIALS)


def transmissions(
    areal_density: np.ndarray,
    materials: tuple[str, ...] | None = None,
    scanner: ScannerModel = ScannerModel(),
) -> tuple[np.ndarray, np.ndarray]:
    """Exact polychromatic transmissions with beam hardening.

    ``areal_density`` is (M, ...) in g/cm^2, one plane per material in ``materials`` (default:
    every registered material). Returns ``(T_low, T_high)`` of shape ``...``, float32 in (0, 1].
    T = Σ_E w(E)·exp(−Σ_m μ_m(E)/ρ_m·a_m): one matrix product, one exp, one product with w.
    """
    materials = all_materials() if materials is None else tuple(materials)
    areal = np.asarray(areal_density, dtype=np.float32)
    if areal.shape[0] != len(materials):
        raise ValueError(f"areal_density has {areal.shape[0]} planes for {len(materials)} materials")
    spatial = areal.shape[1:]
    flat = areal.reshape(len(materials), -1)
    out = np.ones((2, flat.shape[1]), dtype=np.float32)
    covered = np.flatnonzero(flat.any(axis=0))  # air transmits everything: skip it
    if covered.size:
        mu = attenuation_matrix(materials, scanner)  # (M, E)
        weights = detector_response(scanner).weights.astype(np.float32)  # (E, 2)
        for start in range(0, covered.size, _BLOCK):  # blocks that stay in cache
            pixels = covered[start:start + _BLOCK]
            optical_depth = flat[:, pixels].T @ mu  # (P, E)
            np.negative(optical_depth, out=optical_depth)
            np.exp(optical_depth, out=optical_depth)
            out[:, pixels] = (optical_depth @ weights).T
    low, high = out.reshape(2, *spatial)
    return low, high
