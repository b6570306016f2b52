"""Pseudo-colour rendering from Z_eff and the high-energy transmission (the scanner convention)."""

from __future__ import annotations

import numpy as np

from scans.physics.limits import IMPENETRABLE_T

# Hue anchors (RGB in [0, 1]) of the three classes, and the Z bands over which they blend.
ORGANIC = np.array([1.00, 0.55, 0.05], dtype=np.float32)  # orange, Z < 10
INORGANIC = np.array([0.15, 0.70, 0.15], dtype=np.float32)  # green, 10–18
METAL = np.array([0.10, 0.30, 0.95], dtype=np.float32)  # blue, Z > 18
ORGANIC_EDGE = (9.0, 11.0)  # orange -> green between these Z
METAL_EDGE = (17.0, 19.0)  # green -> blue between these Z
# How fast colour saturates with attenuation, and where it starts to darken.
SATURATION_DEPTH = 0.35
DARKEN_FROM = 0.4
DARKEN_SCALE = 2.2


def hue_for_z(zeff: np.ndarray) -> np.ndarray:
    """RGB hue (..., 3) for each Z, blending smoothly between the three classes."""
    z = np.asarray(zeff, dtype=np.float32)[..., None]
    to_green = np.clip((z - ORGANIC_EDGE[0]) / (ORGANIC_EDGE[1] - ORGANIC_EDGE[0]), 0.0, 1.0)
    to_blue = np.clip((z - METAL_EDGE[0]) / (METAL_EDGE[1] - METAL_EDGE[0]), 0.0, 1.0)
    hue = ORGANIC * (1.0 - to_green) + INORGANIC * to_green
    return hue * (1.0 - to_blue) + METAL * to_blue


def render_pseudo_colour(zeff: np.ndarray, high: np.ndarray) -> np.ndarray:
    """uint8 H×W×3 pseudo-colour image.

    Hue from Z (orange organic, green light inorganic, blue metal), fading to white where the
    beam passes almost unattenuated, darker with attenuation, black where impenetrable.
    """
    high = np.asarray(high, dtype=np.float32)
    attenuation = -np.log(np.clip(high, 1e-6, 1.0))[..., None]
    saturation = 1.0 - np.exp(-attenuation / SATURATION_DEPTH)
    value = np.exp(-np.maximum(attenuation - DARKEN_FROM, 0.0) / DARKEN_SCALE)
    rgb = ((1.0 - saturation) + saturation * hue_for_z(zeff)) * value
    rgb[high < IMPENETRABLE_T] = 0.0
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
