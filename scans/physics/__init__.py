"""Dual-energy X-ray physics: materials, spectra, forward model, Z calibration, colour, noise.

Names are imported from their submodules on first use: the materials tables (xraydb) are slow to
import (BENCHMARKS.md, Batch scoring), and a process that only reads stored channels (a scoring
actor) never needs them.
"""

from importlib import import_module

_SUBMODULE = {
    "IMPENETRABLE_T": "limits",
    "ZeffCalibration": "calibration",
    "calibrate": "calibration",
    "effective_z": "calibration",
    "hue_for_z": "colour",
    "render_pseudo_colour": "colour",
    "DetectorNoise": "detector",
    "REFERENCE_PITCH_MM": "detector",
    "all_materials": "forward",
    "attenuation_matrix": "forward",
    "transmissions": "forward",
    "MATERIALS": "materials",
    "Material": "materials",
    "get_material": "materials",
    "register_material": "materials",
    "DetectorResponse": "spectrum",
    "ScannerModel": "spectrum",
    "detector_response": "spectrum",
}

__all__ = sorted(_SUBMODULE)


def __getattr__(name: str):
    if name not in _SUBMODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_SUBMODULE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
