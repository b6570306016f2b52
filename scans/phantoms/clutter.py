"""What a bag holds beside its electronics (mass only, never labelled): world 1's clothing, food and
bottle, and world 2's shoes with steel shanks, belts, keys, coins, chargers, umbrellas, toiletries
and books."""

from __future__ import annotations

import math

import numpy as np

from scans.phantoms.design import Part
from scans.phantoms.shapes import Cylinder, Disc, Ellipsoid, Polygon, Shell, Slab, Wire, zigzag


def _mass(name: str, material: str, shape, density: float | None = None) -> Part:
    return Part(name, material, shape, density=density, labelled=False)


def world1_clutter(rng: np.random.Generator, fov_w: float, fov_h: float) -> list[Part]:
    """Tray, and sometimes clothing folds, food or a drink bottle."""
    parts = [_mass("tray", "polypropylene", Shell(0, 0, 0, fov_w * 0.96, fov_h * 0.96, 0.3, 7.0, 3.0))]
    if rng.random() < 0.6:  # clothing: a few soft folds of cotton
        for _ in range(int(rng.integers(2, 6))):
            x, y = rng.uniform(-0.35, 0.35) * fov_w, rng.uniform(-0.35, 0.35) * fov_h
            parts.append(_mass("clothing", "cellulose",
                               Ellipsoid(x, y, rng.uniform(0, np.pi), rng.uniform(6, 14),
                                         rng.uniform(3, 9), rng.uniform(2, 6)),
                               density=float(rng.uniform(0.12, 0.3))))
    if rng.random() < 0.3:  # food box
        x, y = rng.uniform(-0.3, 0.3) * fov_w, rng.uniform(-0.3, 0.3) * fov_h
        parts.append(_mass("food", "food", Slab(x, y, rng.uniform(0, np.pi), rng.uniform(6, 12),
                                                 rng.uniform(4, 8), rng.uniform(2, 5), 1.0)))
    if rng.random() < 0.25:  # drink bottle lying down
        x, y = rng.uniform(-0.3, 0.3) * fov_w, rng.uniform(-0.3, 0.3) * fov_h
        parts.append(_mass("bottle", "water", Cylinder(x, y, rng.uniform(0, np.pi), 20.0, 6.5)))
    return parts


def _shoe(rng, x, y, a) -> list[Part]:
    length = float(rng.uniform(24, 31))
    return [_mass("shoe", "polyethylene", Ellipsoid(x, y, a, length / 2, 5.0, 9.0), density=0.5),
            _mass("shoe_shank", "steel", Slab(x, y, a, 7.0, 1.2, 0.12))]


def _belt(rng, x, y, a) -> list[Part]:
    points = tuple((float(px), float(py)) for px, py in
                   zip(np.linspace(-30, 30, 9), rng.normal(0, 3.0, 9), strict=True))
    return [_mass("belt", "cellulose", Wire(x, y, a, points, 0.8), density=0.9),
            _mass("buckle", "steel", Disc(x - 30 * math.cos(a), y - 30 * math.sin(a), a, 2.2, 1.8, 0.3,
                                          inner=0.7))]


def _keys(rng, x, y, a) -> list[Part]:
    parts = [_mass("key_ring", "steel", Disc(x, y, 0, 1.3, 1.3, 0.15, inner=0.85))]
    for i in range(int(rng.integers(1, 5))):
        angle = a + i * 0.5
        kx, ky = x + 3.0 * math.cos(angle), y + 3.0 * math.sin(angle)
        material = "copper" if rng.random() < 0.6 else "steel"  # brass or steel
        parts.append(_mass("key", material, Slab(kx, ky, angle, 5.0, 1.6, 0.2)))
    return parts


def _coins(rng, x, y, a) -> list[Part]:
    out = []
    for _ in range(int(rng.integers(2, 9))):
        r = float(rng.uniform(0.8, 1.3))
        out.append(_mass("coin", "copper" if rng.random() < 0.5 else "nichrome",
                         Disc(x + float(rng.normal(0, 1.5)), y + float(rng.normal(0, 1.5)), 0, r, r, 0.2)))
    return out


def _charger(rng, x, y, a) -> list[Part]:
    points = tuple((float(px), float(py)) for px, py in
                   zip(np.linspace(0, 40, 10), rng.normal(0, 4.0, 10), strict=True))
    return [_mass("charger", "abs", Slab(x, y, a, 6.0, 5.0, 3.0, 0.5)),
            _mass("charger_coil", "copper", Slab(x, y, a, 2.5, 2.5, 1.5)),
            _mass("charger_pins", "copper",
                  Slab(x + 3.5 * math.cos(a), y + 3.5 * math.sin(a), a, 1.0, 2.0, 0.2)),
            _mass("charger_cable", "pvc", Wire(x, y, a, points, 0.35))]


def _umbrella(rng, x, y, a) -> list[Part]:
    parts = [_mass("umbrella_shaft", "aluminium", Cylinder(x, y, a, 26.0, 1.0, hollow=0.7)),
             _mass("umbrella_canopy", "polyethylene", Ellipsoid(x, y, a, 13.0, 2.5, 3.0), density=0.4)]
    for i in range(int(rng.integers(6, 9))):
        off = (i - 3.5) * 0.3
        parts.append(_mass("umbrella_rib", "steel", Cylinder(x - math.sin(a) * off, y + math.cos(a) * off, a,
                                                              24.0, 0.15)))
    return parts


def _toiletries(rng, x, y, a) -> list[Part]:
    out = []
    for _ in range(int(rng.integers(1, 4))):
        px, py = x + float(rng.normal(0, 4)), y + float(rng.normal(0, 4))
        if rng.random() < 0.5:
            length, diameter = float(rng.uniform(8, 16)), float(rng.uniform(3, 5))
            angle = float(rng.uniform(0, math.pi))
            out.append(_mass("bottle", "water", Cylinder(px, py, angle, length, diameter)))
        else:
            out.append(_mass("tube", "polyethylene", Polygon(px, py, float(rng.uniform(0, math.pi)),
                                                              ((-7, -2), (7, -0.5), (7, 0.5), (-7, 2)), 2.0),
                             density=1.0))
    return out


def _book(rng, x, y, a) -> list[Part]:
    return [_mass("book", "cellulose", Slab(x, y, a, float(rng.uniform(13, 24)), float(rng.uniform(10, 17)),
                                            float(rng.uniform(1, 4)), 0.2), density=0.8)]


def _spring_clip(rng, x, y, a) -> list[Part]:
    """A hair clip or binder clip: a folded steel spring."""
    return [_mass("clip", "steel", Wire(x, y, a, zigzag(3.0, 1.2, 3), 0.1))]


BAG_ITEMS = {"shoe": _shoe, "belt": _belt, "keys": _keys, "coins": _coins, "charger": _charger,
             "umbrella": _umbrella, "toiletries": _toiletries, "book": _book, "clip": _spring_clip}


def world2_clutter(rng: np.random.Generator, fov_w: float, fov_h: float) -> list[Part]:
    """World 1's tray and soft goods, then a few of BAG_ITEMS, anywhere on the tray."""
    parts = world1_clutter(rng, fov_w, fov_h)
    names = sorted(BAG_ITEMS)
    for _ in range(int(rng.integers(1, 5))):
        name = names[int(rng.integers(len(names)))]
        x, y = rng.uniform(-0.38, 0.38) * fov_w, rng.uniform(-0.38, 0.38) * fov_h
        parts += BAG_ITEMS[name](rng, float(x), float(y), float(rng.uniform(0, 2 * math.pi)))
    return parts
