"""Dual-energy X-ray physics: materials, spectra, forward model, Z calibration, colour, noise."""

from scans.physics.calibration import IMPENETRABLE_T, ZeffCalibration, calibrate, effective_z
from scans.physics.colour import hue_for_z, render_pseudo_colour
from scans.physics.detector import DetectorNoise
from scans.physics.forward import all_materials, attenuation_matrix, transmissions
from scans.physics.materials import MATERIALS, Material, get_material, register_material
from scans.physics.spectrum import DetectorResponse, ScannerModel, detector_response

__all__ = [
    "IMPENETRABLE_T",
    "MATERIALS",
    "DetectorNoise",
    "DetectorResponse",
    "Material",
    "ScannerModel",
    "ZeffCalibration",
    "all_materials",
    "attenuation_matrix",
    "calibrate",
    "detector_response",
    "effective_z",
    "get_material",
    "hue_for_z",
    "register_material",
    "render_pseudo_colour",
    "transmissions",
]
