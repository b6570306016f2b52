"""Effective-Z calibration: step wedges of reference materials -> table (−ln T_H, R) -> Z_eff."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import ndimage

from scans.physics.forward import transmissions
from scans.physics.limits import AIR_ATTENUATION, IMPENETRABLE_T
from scans.physics.materials import get_material
from scans.physics.spectrum import ScannerModel
from scans.physics.tables import physics_table

REFERENCE_WEDGES = ("polyethylene", "water", "aluminium", "steel", "copper")


@dataclass(frozen=True)
class ZeffCalibration:
    """A 2-D table Z(x, R) on a regular grid, x = −ln T_H, R = ln T_L / ln T_H."""

    x_grid: np.ndarray  # (X,)
    r_grid: np.ndarray  # (R,)
    table: np.ndarray  # (X, R) float32
    reference_z: dict[str, float]

    def lookup(self, attenuation_high: np.ndarray, ratio: np.ndarray) -> np.ndarray:
        """Bilinear look-up of Z for per-pixel (x, R); outside the table the edge is used."""
        xi = np.interp(attenuation_high, self.x_grid, np.arange(self.x_grid.size))
        ri = np.interp(ratio, self.r_grid, np.arange(self.r_grid.size))
        return ndimage.map_coordinates(
            self.table, [xi.ravel(), ri.ravel()], order=1, mode="nearest"
        ).reshape(np.shape(attenuation_high))


@cache
def calibrate(
    scanner: ScannerModel = ScannerModel(),
    references: tuple[str, ...] = REFERENCE_WEDGES,
    n_steps: int = 400,
    grid: tuple[int, int] = (256, 512),
) -> ZeffCalibration:
    """Simulate each reference wedge over thickness (noise-free) and build the Z table.

    At a fixed x the reference curves R_m(x) order the materials by Z; a pixel's Z is interpolated
    linearly in R between the two reference curves around it. Ratios beyond the lightest or
    heaviest reference take that reference's Z: no extrapolation past what was calibrated.
    """
    identity = {"scanner": scanner.as_dict(), "references": [repr(get_material(m)) for m in references],
                "n_steps": n_steps, "grid": list(grid)}
    arrays = physics_table("zeff", identity, lambda: _wedge_table(scanner, references, n_steps, grid))
    return ZeffCalibration(arrays["x_grid"], arrays["r_grid"], arrays["table"],
                           dict(zip(references, arrays["reference_z"].tolist(), strict=True)))


def _wedge_table(scanner: ScannerModel, references: tuple[str, ...], n_steps: int,
                 grid: tuple[int, int]) -> dict[str, np.ndarray]:
    x_max = -np.log(IMPENETRABLE_T)
    x_grid = np.geomspace(AIR_ATTENUATION / 4, x_max, grid[0])
    curves, z_ref = [], {}
    for name in references:
        material = get_material(name)
        # Areal densities spanning x from below air level to beyond impenetrable.
        areal = np.geomspace(1e-4, 400.0, n_steps)
        planes = areal[None, :].astype(np.float32)
        low, high = transmissions(planes, (name,), scanner)
        x = -np.log(high.astype(np.float64))
        r = -np.log(low.astype(np.float64)) / np.maximum(x, 1e-12)
        valid = (high > 1e-7) & (x > 1e-6)
        curves.append(np.interp(x_grid, x[valid], r[valid]))
        z_ref[name] = material.z_eff
    calibration = _table(x_grid, np.stack(curves), z_ref, grid[1])
    return {"x_grid": calibration.x_grid, "r_grid": calibration.r_grid, "table": calibration.table,
            "reference_z": np.array(list(z_ref.values()), np.float64)}


def _table(x_grid: np.ndarray, r_curves: np.ndarray, z_ref: dict[str, float],
           n_ratios: int) -> ZeffCalibration:
    """The Z table from each reference's ratio curve R_m(x) over ``x_grid`` ((M, X), in z_ref's order)."""
    z_values = np.array(list(z_ref.values()))
    r_grid = np.linspace(r_curves.min() * 0.9, r_curves.max() * 1.1, n_ratios)
    table = np.empty((x_grid.size, r_grid.size), dtype=np.float32)
    for i in range(x_grid.size):
        order = np.argsort(r_curves[:, i])
        table[i] = np.interp(r_grid, r_curves[order, i], z_values[order])
    return ZeffCalibration(x_grid, r_grid, table, z_ref)


def calibration_from_wedges(wedges: dict[str, tuple[float, np.ndarray, np.ndarray]],
                            grid: tuple[int, int] = (256, 512)) -> ZeffCalibration:
    """The Z table from measured step wedges: per reference material its Z and the high and low
    transmissions through its steps (air-normalised, in (0, 1)), as a scanner's calibration gives them.

    Each wedge's ratio R = ln T_L / ln T_H is interpolated over x = −ln T_H and held at its ends
    beyond the measured range; the table is built as the simulator's is."""
    x_max = -np.log(IMPENETRABLE_T)
    x_grid = np.geomspace(AIR_ATTENUATION / 4, x_max, grid[0])
    curves, z_ref = [], {}
    for name, (z, high, low) in wedges.items():
        x = -np.log(np.asarray(high, np.float64))
        r = np.log(np.asarray(low, np.float64)) / np.log(np.asarray(high, np.float64))
        order = np.argsort(x)
        curves.append(np.interp(x_grid, x[order], r[order]))
        z_ref[name] = float(z)
    return _table(x_grid, np.stack(curves), z_ref, grid[1])


def effective_z(
    high: np.ndarray,
    low: np.ndarray,
    scanner: ScannerModel = ScannerModel(),
    smooth_sigma: float = 0.0,
    calibration: ZeffCalibration | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated effective Z per pixel, and the mask of impenetrable pixels, by ``calibration``
    (a scanner's measured table) or, without one, by the simulated ``scanner``'s.

    Z is 0 where it cannot be measured: air (x < AIR_ATTENUATION) and impenetrable pixels
    (T_H < IMPENETRABLE_T); the mask tells the two apart. ``smooth_sigma`` > 0 averages the
    log-transmissions over a Gaussian window first, as scanners do to tame quantum noise in R.
    """
    x_high = -np.log(np.clip(high, 1e-9, 1.0, dtype=np.float32))
    x_low = -np.log(np.clip(low, 1e-9, 1.0, dtype=np.float32))
    if smooth_sigma > 0:
        x_high = ndimage.gaussian_filter(x_high, smooth_sigma)
        x_low = ndimage.gaussian_filter(x_low, smooth_sigma)
    impenetrable = high < IMPENETRABLE_T
    measurable = (x_high >= AIR_ATTENUATION) & ~impenetrable
    zeff = np.zeros(np.shape(high), dtype=np.float32)
    if measurable.any():
        xm = x_high[measurable]
        table = calibration if calibration is not None else calibrate(scanner)
        zeff[measurable] = table.lookup(xm, x_low[measurable] / xm)
    return zeff, impenetrable
