"""Item designs: an item is a list of material parts in its own coordinates (cm)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scans.phantoms.shapes import Disc, Shape


@dataclass(frozen=True)
class Part:
    """One sub-component: a shape made of a material (density defaults to the material's)."""

    name: str
    material: str
    shape: Shape
    density: float | None = None
    anomaly: bool = False
    labelled: bool = True  # False: adds mass only (copper layers, insulation cores)
    looks_like: str = ""  # the anomaly kind this benign part resembles (world 2's look-alikes)


@dataclass
class ItemDesign:
    """An item before placement: its parts, size, and where an anomaly could be hidden: world 1's
    few fixed ``hideouts``, or world 2's ``interior`` (rectangles covering the inside of the item,
    an anomaly anywhere in them, drawn by area) and the model it was built from."""

    item_class: str
    width: float
    height: float
    parts: list[Part] = field(default_factory=list)
    hideouts: list[tuple[float, float, float, float]] = field(default_factory=list)  # cx, cy, w, h
    screw_sites: list[tuple[float, float]] = field(default_factory=list)
    interior: list[tuple[float, float, float, float]] = field(default_factory=list)  # cx, cy, w, h
    model: str = ""

    def add(self, name: str, material: str, shape: Shape, **kwargs) -> None:
        """Append a part."""
        self.parts.append(Part(name, material, shape, **kwargs))

    def add_screw(self, x: float, y: float, rng: np.random.Generator, radius: float = 0.2) -> None:
        """A vertical steel screw (head and shank along the beam) at (x, y)."""
        length = float(rng.uniform(0.4, 0.8))
        self.add("screw", "steel", Disc(x, y, 0.0, radius, radius, length))
        self.screw_sites.append((x, y))

    def hideout_point(self, rng: np.random.Generator, margin: float = 0.0,
                      fit: float = 0.0) -> tuple[float, float]:
        """A random point inside a random hideout, ``margin`` cm from its edges when it fits; with an
        interior, anywhere inside it (each rectangle by its area), ``fit`` cm (half the anomaly's
        short side) from its edges where there is room, so the anomaly lies inside the item."""
        if self.interior:
            areas = np.array([w * h for _, _, w, h in self.interior])
            cx, cy, w, h = self.interior[int(rng.choice(len(areas), p=areas / areas.sum()))]
            margin = max(margin, fit)
        else:
            cx, cy, w, h = self.hideouts[int(rng.integers(len(self.hideouts)))]
        mx, my = max(w / 2 - margin, 0.0), max(h / 2 - margin, 0.0)
        return cx + float(rng.uniform(-mx, mx)), cy + float(rng.uniform(-my, my))
