"""Scanner model: tube spectrum and sandwich-detector response of the low and high channels."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache

import numpy as np

from scans.physics.tables import physics_table


@dataclass(frozen=True)
class ScannerModel:
    """One X-ray tube and a sandwich detector (front = low channel, Cu filter, rear = high channel).

    The defaults give detected mean energies of about 60 keV (low) and 94 keV (high), like a
    140–160 kVp baggage scanner.
    """

    kvp: float = 150.0
    anode_angle_deg: float = 12.0
    tube_filter_al_mm: float = 3.0
    front_scintillator: str = "CsI"
    front_density: float = 4.51
    front_mm: float = 0.3
    interfilter_cu_mm: float = 0.5
    rear_scintillator: str = "CsI"
    rear_density: float = 4.51
    rear_mm: float = 4.0
    energy_bin_kev: float = 2.0
    min_energy_kev: float = 10.0

    def as_dict(self) -> dict[str, float | str]:
        """Plain dict of the parameters (for archive metadata)."""
        return asdict(self)


@dataclass(frozen=True)
class DetectorResponse:
    """Energy grid and the normalised energy-integrating weights of both channels."""

    energies_kev: np.ndarray  # (E,)
    weights: np.ndarray  # (E, 2): column 0 low, column 1 high, each column sums to 1

    @property
    def mean_energies_kev(self) -> tuple[float, float]:
        """Weighted mean detected energy of the low and high channels."""
        low, high = (self.weights * self.energies_kev[:, None]).sum(axis=0)
        return float(low), float(high)


def _absorbed(formula: str, density: float, mm: float, energies_kev: np.ndarray) -> np.ndarray:
    import xraydb  # a slow import: only when a table is built (scans.physics.tables)

    mu = xraydb.material_mu(formula, energies_kev * 1000.0, density=density)  # 1/cm
    return 1.0 - np.exp(-mu * mm / 10.0)


@cache
def detector_response(scanner: ScannerModel = ScannerModel()) -> DetectorResponse:
    """Tube spectrum (spekpy) times each channel's absorbed-energy response, on a coarse grid (built
    once per node, then read from its cache)."""
    arrays = physics_table("response", scanner.as_dict(), lambda: _response_arrays(scanner))
    return DetectorResponse(arrays["energies_kev"], arrays["weights"])


def _response_arrays(scanner: ScannerModel) -> dict[str, np.ndarray]:
    import spekpy  # a slow import (BENCHMARKS.md, Synthesis): only when a response is first built

    spek = spekpy.Spek(kvp=scanner.kvp, th=scanner.anode_angle_deg, dk=scanner.energy_bin_kev)
    spek.filter("Al", scanner.tube_filter_al_mm)
    energies, fluence = spek.get_spectrum()
    keep = energies >= scanner.min_energy_kev
    energies, fluence = energies[keep], fluence[keep]

    front = _absorbed(scanner.front_scintillator, scanner.front_density, scanner.front_mm, energies)
    through_cu = 1.0 - _absorbed("Cu", 8.96, scanner.interfilter_cu_mm, energies)
    rear = _absorbed(scanner.rear_scintillator, scanner.rear_density, scanner.rear_mm, energies)
    low = fluence * energies * front
    high = fluence * energies * (1.0 - front) * through_cu * rear
    weights = np.stack([low / low.sum(), high / high.sum()], axis=1)
    return {"energies_kev": energies.astype(np.float64), "weights": weights.astype(np.float64)}
