"""Materials registry: composition, density and mass attenuation of everything a scan can contain."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np

from scans.registry import Registry

# Exponent of the power-law effective atomic number (Spiers); 2.94 is the customary value.
ZEFF_EXPONENT = 2.94


@dataclass(frozen=True)
class Material:
    """A material as a mixture of compounds given by chemical formula and mass fraction."""

    name: str
    composition: tuple[tuple[str, float], ...]
    density: float  # g/cm^3, nominal
    description: str = ""

    def mass_attenuation(self, energies_kev: np.ndarray) -> np.ndarray:
        """Mass attenuation coefficient mu/rho (cm^2/g) at the given energies (mixture rule)."""
        import xraydb  # a slow import: only when a table is built (scans.physics.tables)

        energies_ev = np.asarray(energies_kev, dtype=np.float64) * 1000.0
        total = np.zeros_like(energies_ev)
        for formula, fraction in self.composition:
            total += fraction * xraydb.material_mu(formula, energies_ev, density=1.0)
        return total

    @property
    def element_mass_fractions(self) -> dict[str, float]:
        """Mass fraction of every element in the mixture."""
        import xraydb

        fractions: dict[str, float] = {}
        for formula, fraction in self.composition:
            counts = xraydb.chemparse(formula)
            masses = {el: n * xraydb.atomic_mass(el) for el, n in counts.items()}
            total = sum(masses.values())
            for el, mass in masses.items():
                fractions[el] = fractions.get(el, 0.0) + fraction * mass / total
        return fractions

    @property
    def z_eff(self) -> float:
        """Power-law effective atomic number from electron fractions."""
        import xraydb

        electrons = {
            el: w * xraydb.atomic_number(el) / xraydb.atomic_mass(el)
            for el, w in self.element_mass_fractions.items()
        }
        total = sum(electrons.values())
        return float(
            sum(
                (n / total) * xraydb.atomic_number(el) ** ZEFF_EXPONENT
                for el, n in electrons.items()
            )
            ** (1.0 / ZEFF_EXPONENT)
        )


MATERIALS: Registry[Material] = Registry("material")


def register_material(
    name: str, composition: Mapping[str, float] | str, density: float, description: str = ""
) -> Material:
    """Add a material to the registry; a name can be registered once."""
    if isinstance(composition, str):
        composition = {composition: 1.0}
    total = sum(composition.values())
    if total <= 0:
        raise ValueError(f"material {name!r}: mass fractions must sum to a positive number")
    parts = tuple((formula, fraction / total) for formula, fraction in composition.items())
    return MATERIALS.add(name, Material(name, parts, float(density), description))


def get_material(name: str) -> Material:
    """Look a material up by name; unknown names list the valid ones."""
    return MATERIALS[name]


@cache
def material_index() -> dict[str, int]:
    """Stable index of every registered material (the order of areal-density channels)."""
    return {name: i for i, name in enumerate(MATERIALS)}


# Organics (Z_eff < 10)
register_material("polyethylene", "CH2", 0.94, "PE: calibration wedge, bags, films")
register_material("polypropylene", "C3H6", 0.90, "PP: trays, containers")
register_material("abs", "C15H17N", 1.05, "ABS plastic: appliance and laptop casings")
register_material("water", "H2O", 1.00, "water: calibration wedge, drinks")
register_material("cellulose", "C6H10O5", 1.50, "cotton and paper fibre: clothing, books")
register_material(
    "food", {"H2O": 0.6, "C6H10O5": 0.3, "C16H32O2": 0.1}, 1.05, "generic food: water, starch, fat"
)
register_material("sucrose", "C12H22O11", 1.45, "marzipan-like sugar paste (ρ 1.3–1.6)")
register_material("tnt", "C7H5N3O6", 1.65, "explosive simulant (TNT-like)")
register_material("pvc", "C2H3Cl", 1.38, "PVC: cable insulation")
# Light inorganics (Z_eff 10–18)
register_material(
    "fr4", {"SiO2": 0.35, "CaO": 0.10, "Al2O3": 0.08, "C18H20O3": 0.47}, 1.85,
    "FR-4 glass-epoxy circuit board",
)
register_material(
    "glass", {"SiO2": 0.73, "Na2O": 0.14, "CaO": 0.09, "MgO": 0.04}, 2.50, "soda-lime display glass"
)
register_material("aluminium", "Al", 2.70, "Al: heat sinks, frames, soleplates")
register_material("silicon", "Si", 2.33, "silicon dies")
register_material("mica", "KAl3Si3O12H2", 2.80, "mica sheets carrying heating wires")
register_material(
    "li_ion",
    {"LiCoO2": 0.35, "C": 0.20, "Cu": 0.12, "Al": 0.06, "C3H4O3": 0.15, "C3H6": 0.04, "Fe": 0.08},
    2.60,
    "Li-ion cell contents averaged: cathode, graphite, Cu/Al foils, electrolyte, can",
)
# Metals (Z_eff > 18)
register_material("steel", {"Fe": 0.99, "C": 0.01}, 7.85, "carbon steel: screws, blades, plates")
register_material("copper", "Cu", 8.96, "Cu: PCB traces, coils, wires, heat pipes")
register_material("nichrome", {"Ni": 0.8, "Cr": 0.2}, 8.40, "NiCr heating wire")
register_material("magnet", "Nd2Fe14B", 7.50, "NdFeB magnets: speakers, motors")
