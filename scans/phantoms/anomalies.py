"""Anomaly registry: concealed threats placed inside an item, drawn so detection is not trivial."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scans.phantoms.design import ItemDesign, Part
from scans.phantoms.shapes import Cylinder, Disc, Ellipsoid, Polygon, Slab, Wire
from scans.registry import Registry

# (rng, item design, size scale) -> the anomaly's parts
AnomalyBuilder = Callable[[np.random.Generator, ItemDesign, float], list[Part]]
ANOMALIES: Registry[AnomalyBuilder] = Registry("anomaly")


def _size(design: ItemDesign, rng: np.random.Generator, low: float, high: float, scale: float) -> float:
    """A size in [low, high] cm × ``scale``, shrunk for small items (at ``scale`` 1 the anomaly then
    stays inside the item). ``scale`` scales every dimension, thickness along the beam too: larger
    and denser anomalies for easy test archives."""
    return float(rng.uniform(low, high) * scale * min(1.0, min(design.width, design.height) / 15.0))


@ANOMALIES.register("organic_block")
def organic_block(rng: np.random.Generator, design: ItemDesign, scale: float = 1.0) -> list[Part]:
    """Marzipan or explosive simulant (Z≈7, ρ 1.3–1.8): low contrast inside plastic."""
    material = "tnt" if rng.random() < 0.5 else "sucrose"
    density = float(rng.uniform(1.3, 1.8))
    w, h = _size(design, rng, 2.5, 7.0, scale), _size(design, rng, 1.5, 4.5, scale)
    x, y = design.hideout_point(rng)
    angle = float(rng.uniform(0, np.pi))
    thickness = float(rng.uniform(0.4, 2.0)) * scale
    shape = (Slab(x, y, angle, w, h, thickness, 0.3) if rng.random() < 0.5
             else Ellipsoid(x, y, angle, w / 2, h / 2, thickness * 1.4))
    return [Part("organic_block", material, shape, density=density, anomaly=True)]


@ANOMALIES.register("extra_screws")
def extra_screws(rng: np.random.Generator, design: ItemDesign, scale: float = 1.0) -> list[Part]:
    """One to four loose screws, near the item's own screws when it has any (metal among metal)."""
    parts = []
    for _ in range(int(rng.integers(1, 5))):
        if design.screw_sites and rng.random() < 0.6:
            sx, sy = design.screw_sites[int(rng.integers(len(design.screw_sites)))]
            x, y = sx + float(rng.normal(0, 1.5)), sy + float(rng.normal(0, 1.5))
        else:
            x, y = design.hideout_point(rng)
        length, diameter = float(rng.uniform(0.6, 2.0)) * scale, float(rng.uniform(0.2, 0.45)) * scale
        if rng.random() < 0.5:  # lying flat
            shape = Cylinder(x, y, float(rng.uniform(0, np.pi)), length, diameter)
        else:  # standing along the beam
            shape = Disc(x, y, 0.0, diameter / 2, diameter / 2, length)
        parts.append(Part("extra_screw", "steel", shape, anomaly=True))
    return parts


@ANOMALIES.register("metal_plate")
def metal_plate(rng: np.random.Generator, design: ItemDesign, scale: float = 1.0) -> list[Part]:
    """A thin steel or aluminium plate, often overlapping boards and batteries."""
    material = "steel" if rng.random() < 0.6 else "aluminium"
    thickness = float(rng.uniform(0.05, 0.25) if material == "steel" else rng.uniform(0.1, 0.5)) * scale
    w, h = _size(design, rng, 2.0, 6.0, scale), _size(design, rng, 1.5, 4.5, scale)
    x, y = design.hideout_point(rng)
    shape = Slab(x, y, float(rng.uniform(0, np.pi)), w, h, thickness, 0.1)
    return [Part("metal_plate", material, shape, anomaly=True)]


@ANOMALIES.register("blade")
def blade(rng: np.random.Generator, design: ItemDesign, scale: float = 1.0) -> list[Part]:
    """A knife blade: a thin steel strip with a pointed tip."""
    length, width = _size(design, rng, 5.0, 10.0, scale), _size(design, rng, 1.0, 2.2, scale)
    x, y = design.hideout_point(rng)
    hl, hw = length / 2, width / 2
    outline = ((-hl, -hw), (hl - width, -hw), (hl, hw * 0.6), (hl - 0.3, hw), (-hl, hw))
    thickness = float(rng.uniform(0.08, 0.2)) * scale
    return [Part("blade", "steel", Polygon(x, y, float(rng.uniform(0, np.pi)), outline, thickness),
                 anomaly=True)]


@ANOMALIES.register("wire_bundle")
def wire_bundle(rng: np.random.Generator, design: ItemDesign, scale: float = 1.0) -> list[Part]:
    """A bundle of three to six insulated copper wires taped together."""
    x, y = design.hideout_point(rng)
    angle = float(rng.uniform(0, np.pi))
    length = _size(design, rng, 4.0, 10.0, scale)
    xs = np.linspace(-length / 2, length / 2, 7)
    bend = rng.normal(0, 0.4, xs.size)
    parts = []
    for _ in range(int(rng.integers(3, 7))):
        offset = float(rng.normal(0, 0.15))
        points = tuple((float(a), float(b + offset)) for a, b in zip(xs, bend, strict=True))
        parts.append(Part("wire_bundle", "copper",
                          Wire(x, y, angle, points, float(rng.uniform(0.05, 0.15)) * scale), anomaly=True))
        parts.append(Part("wire_insulation", "pvc", Wire(x, y, angle, points, 0.3 * scale),
                          anomaly=True, labelled=False))
    return parts


def add_anomaly(rng: np.random.Generator, design: ItemDesign, kind: str | None = None,
                kinds: tuple[str, ...] | None = None, scale: float = 1.0) -> str:
    """Hide one anomaly of ``kind`` (when None, drawn from ``kinds``, default every registered
    kind) inside ``design``, sized × ``scale``; returns the kind."""
    if kind is None:
        choices = sorted(kinds or ANOMALIES)
        kind = choices[int(rng.integers(len(choices)))]
    design.parts.extend(ANOMALIES[kind](rng, design, scale))
    return kind
