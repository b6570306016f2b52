"""Anomaly registry: concealed threats placed inside an item (world 1: in its hideouts; world 2:
anywhere inside it), drawn so detection is not trivial."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scans.phantoms.design import ItemDesign, Part
from scans.phantoms.shapes import Cylinder, Disc, Ellipsoid, Polygon, Slab, Wire
from scans.registry import Registry

# (rng, item design, size scale, aligned with the item's axes) -> the anomaly's parts
AnomalyBuilder = Callable[[np.random.Generator, ItemDesign, float, bool], list[Part]]
ANOMALIES: Registry[AnomalyBuilder] = Registry("anomaly")


def _size(design: ItemDesign, rng: np.random.Generator, low: float, high: float, scale: float) -> float:
    """A size in [low, high] cm × ``scale``, shrunk for small items (at ``scale`` 1 the anomaly then
    stays inside the item). ``scale`` scales every dimension, thickness along the beam too: larger
    and denser anomalies for easy test archives."""
    return float(rng.uniform(low, high) * scale * min(1.0, min(design.width, design.height) / 15.0))


def _angle(rng: np.random.Generator, aligned: bool) -> float:
    """An anomaly's angle in the item's frame: uniform in [0, π), or with ``aligned`` the same
    draw turned to the nearer of the item's axes (0 or π/2), as the item's own parts lie; the
    random stream is the same either way, so an aligned archive holds the same anomalies."""
    angle = float(rng.uniform(0, np.pi))
    return float(np.pi / 2 * round(angle / (np.pi / 2)) % np.pi) if aligned else angle


# what an organic block is made of: no item or bag content is, so a model that reads these materials
# reads the label (pretraining, which should learn physics without labels, never sees them)
ORGANIC_BLOCK_MATERIALS = ("tnt", "sucrose")
ANOMALY_ONLY_MATERIALS = ORGANIC_BLOCK_MATERIALS


@ANOMALIES.register("organic_block")
def organic_block(rng: np.random.Generator, design: ItemDesign, scale: float = 1.0,
                  aligned: bool = False) -> list[Part]:
    """Marzipan or explosive simulant (Z≈7, ρ 1.3–1.8): low contrast inside plastic."""
    material = ORGANIC_BLOCK_MATERIALS[0] if rng.random() < 0.5 else ORGANIC_BLOCK_MATERIALS[1]
    density = float(rng.uniform(1.3, 1.8))
    w, h = _size(design, rng, 2.5, 7.0, scale), _size(design, rng, 1.5, 4.5, scale)
    x, y = design.hideout_point(rng, fit=min(w, h) / 2)
    angle = _angle(rng, aligned)
    thickness = float(rng.uniform(0.4, 2.0)) * scale
    shape = (Slab(x, y, angle, w, h, thickness, 0.3) if rng.random() < 0.5
             else Ellipsoid(x, y, angle, w / 2, h / 2, thickness * 1.4))
    return [Part("organic_block", material, shape, density=density, anomaly=True)]


@ANOMALIES.register("extra_screws")
def extra_screws(rng: np.random.Generator, design: ItemDesign, scale: float = 1.0,
                 aligned: bool = False) -> list[Part]:
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
            shape = Cylinder(x, y, _angle(rng, aligned), length, diameter)
        else:  # standing along the beam
            shape = Disc(x, y, 0.0, diameter / 2, diameter / 2, length)
        parts.append(Part("extra_screw", "steel", shape, anomaly=True))
    return parts


@ANOMALIES.register("metal_plate")
def metal_plate(rng: np.random.Generator, design: ItemDesign, scale: float = 1.0,
                aligned: bool = False) -> list[Part]:
    """A thin steel or aluminium plate, often overlapping boards and batteries."""
    material = "steel" if rng.random() < 0.6 else "aluminium"
    thickness = float(rng.uniform(0.05, 0.25) if material == "steel" else rng.uniform(0.1, 0.5)) * scale
    w, h = _size(design, rng, 2.0, 6.0, scale), _size(design, rng, 1.5, 4.5, scale)
    x, y = design.hideout_point(rng, fit=min(w, h) / 2)
    shape = Slab(x, y, _angle(rng, aligned), w, h, thickness, 0.1)
    return [Part("metal_plate", material, shape, anomaly=True)]


@ANOMALIES.register("blade")
def blade(rng: np.random.Generator, design: ItemDesign, scale: float = 1.0,
          aligned: bool = False) -> list[Part]:
    """A knife blade: a thin steel strip with a pointed tip."""
    length, width = _size(design, rng, 5.0, 10.0, scale), _size(design, rng, 1.0, 2.2, scale)
    x, y = design.hideout_point(rng, fit=width)
    hl, hw = length / 2, width / 2
    outline = ((-hl, -hw), (hl - width, -hw), (hl, hw * 0.6), (hl - 0.3, hw), (-hl, hw))
    thickness = float(rng.uniform(0.08, 0.2)) * scale
    return [Part("blade", "steel", Polygon(x, y, _angle(rng, aligned), outline, thickness), anomaly=True)]


@ANOMALIES.register("wire_bundle")
def wire_bundle(rng: np.random.Generator, design: ItemDesign, scale: float = 1.0,
                aligned: bool = False) -> list[Part]:
    """A bundle of three to six insulated copper wires taped together: insulation and copper both
    labelled anomaly (the PVC shows in the scan), each strand's copper drawn over its insulation."""
    x, y = design.hideout_point(rng)
    angle = _angle(rng, aligned)
    length = _size(design, rng, 4.0, 10.0, scale)
    xs = np.linspace(-length / 2, length / 2, 7)
    bend = rng.normal(0, 0.4, xs.size)
    parts = []
    for _ in range(int(rng.integers(3, 7))):
        offset = float(rng.normal(0, 0.15))
        points = tuple((float(a), float(b + offset)) for a, b in zip(xs, bend, strict=True))
        parts.append(Part("wire_insulation", "pvc", Wire(x, y, angle, points, 0.3 * scale), anomaly=True))
        parts.append(Part("wire_bundle", "copper",
                          Wire(x, y, angle, points, float(rng.uniform(0.05, 0.15)) * scale), anomaly=True))
    return parts


def add_anomaly(rng: np.random.Generator, design: ItemDesign, kind: str | None = None,
                kinds: tuple[str, ...] | None = None, scale: float = 1.0, aligned: bool = False) -> str:
    """Hide one anomaly of ``kind`` (when None, drawn from ``kinds``, default every registered
    kind) inside ``design``, sized × ``scale``, with ``aligned`` along the item's axes; returns the kind."""
    if kind is None:
        choices = sorted(kinds or ANOMALIES)
        kind = choices[int(rng.integers(len(choices)))]
    design.parts.extend(ANOMALIES[kind](rng, design, scale, aligned))
    return kind
