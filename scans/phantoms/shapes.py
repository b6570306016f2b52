"""Analytic shapes: each gives the X-ray path length (cm) through it at item-local points (cm)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from types import EllipsisType

import numpy as np


@dataclass(frozen=True)
class Shape:
    """Base: a shape centred at (cx, cy) in item coordinates, turned by ``angle`` radians."""

    cx: float
    cy: float
    angle: float

    def radius(self) -> float:
        """Distance from the centre that bounds the shape."""
        raise NotImplementedError

    def bounds(self) -> tuple[float, float, float, float]:
        """Conservative item-local bounding box (u0, u1, v0, v1) in cm."""
        r = self.radius()
        return self.cx - r, self.cx + r, self.cy - r, self.cy + r

    def _own(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.angle), math.sin(self.angle)
        du, dv = u - self.cx, v - self.cy
        return c * du + s * dv, -s * du + c * dv

    def path_length(self, u: np.ndarray, v: np.ndarray, pitch: float = 0.0) -> np.ndarray:
        """Path length (cm) of a ray perpendicular to the image plane at each (u, v).

        ``pitch`` is the pixel size in cm: parts thinner than a pixel are widened to it with
        their path shortened in proportion, so their mass (and their signal) is kept.
        """
        raise NotImplementedError


def _rounded_box_distance(s, t, half_w, half_h, corner):
    corner = min(corner, half_w, half_h)
    qx = np.abs(s) - (half_w - corner)
    qy = np.abs(t) - (half_h - corner)
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0) - corner


@dataclass(frozen=True)
class Slab(Shape):
    """Flat rounded rectangle of constant thickness (plates, boards, chips, blocks)."""

    width: float
    height: float
    thickness: float
    corner: float = 0.0

    def radius(self) -> float:
        return math.hypot(self.width, self.height) / 2

    def path_length(self, u, v, pitch=0.0):
        s, t = self._own(u, v)
        inside = _rounded_box_distance(s, t, self.width / 2, self.height / 2, self.corner) < 0
        return np.where(inside, np.float32(self.thickness), np.float32(0.0))


@dataclass(frozen=True)
class Shell(Shape):
    """Hollow box seen from above: top and bottom walls everywhere, side walls along the rim."""

    width: float
    height: float
    wall: float
    depth: float
    corner: float = 0.0

    def radius(self) -> float:
        return math.hypot(self.width, self.height) / 2

    def path_length(self, u, v, pitch=0.0):
        s, t = self._own(u, v)
        d = _rounded_box_distance(s, t, self.width / 2, self.height / 2, self.corner)
        rim = (d < 0) & (d > -self.wall)
        return np.where(rim, self.depth, np.where(d < 0, 2 * self.wall, 0.0)).astype(np.float32)


@dataclass(frozen=True)
class Disc(Shape):
    """Flat ellipse (or circle) of constant thickness; an inner radius makes a ring."""

    rx: float
    ry: float
    thickness: float
    inner: float = 0.0  # fraction of the radii left empty

    def radius(self) -> float:
        return max(self.rx, self.ry)

    def path_length(self, u, v, pitch=0.0):
        s, t = self._own(u, v)
        rx, ry, thickness = self.rx, self.ry, self.thickness
        if self.inner == 0 and min(rx, ry) < 0.75 * pitch:
            grow = 0.75 * pitch / min(rx, ry)
            rx, ry, thickness = rx * grow, ry * grow, thickness / grow**2
        r2 = (s / rx) ** 2 + (t / ry) ** 2
        inside = (r2 < 1.0) & (r2 >= self.inner**2)
        return np.where(inside, np.float32(thickness), np.float32(0.0))


@dataclass(frozen=True)
class Ellipsoid(Shape):
    """Ellipsoid lump: thickest in the middle (organic blocks, food, clothing folds)."""

    rx: float
    ry: float
    thickness: float

    def radius(self) -> float:
        return max(self.rx, self.ry)

    def path_length(self, u, v, pitch=0.0):
        s, t = self._own(u, v)
        r2 = (s / self.rx) ** 2 + (t / self.ry) ** 2
        return (self.thickness * np.sqrt(np.clip(1.0 - r2, 0.0, None))).astype(np.float32)


@dataclass(frozen=True)
class Cylinder(Shape):
    """Cylinder lying in the image plane along its own axis (cells, pipes, rods, screws)."""

    length: float
    diameter: float
    hollow: float = 0.0  # inner diameter fraction (tubes)

    def radius(self) -> float:
        return math.hypot(self.length, self.diameter) / 2

    def path_length(self, u, v, pitch=0.0):
        s, t = self._own(u, v)
        r = self.diameter / 2
        if self.diameter < pitch:  # below a pixel: a solid rod of the same cross-section
            wide = pitch / 2
            keep = (r / wide) ** 2 * (1.0 - self.hollow**2)
            chord = keep * 2 * np.sqrt(np.clip(wide * wide - t * t, 0.0, None))
        else:
            chord = 2 * np.sqrt(np.clip(r * r - t * t, 0.0, None))
            if self.hollow > 0:
                ri = r * self.hollow
                chord = chord - 2 * np.sqrt(np.clip(ri * ri - t * t, 0.0, None))
        return np.where(np.abs(s) < self.length / 2, chord, 0.0).astype(np.float32)


@dataclass(frozen=True)
class Wire(Shape):
    """Round wire along a polyline given relative to (cx, cy) (cables, coils, heating wire)."""

    points: tuple[tuple[float, float], ...]
    diameter: float

    def radius(self) -> float:
        return max(math.hypot(x, y) for x, y in self.points) + self.diameter

    def path_length(self, u, v, pitch=0.0):
        s, t = self._own(u, v)
        r = max(self.diameter, pitch) / 2
        scale = (self.diameter / (2 * r)) ** 2  # cross-section kept when widened
        best = np.full(np.shape(s), np.inf, dtype=np.float32)
        grid = _PixelGrid.of(s, t)
        for (x0, y0), (x1, y1) in zip(self.points[:-1], self.points[1:], strict=True):
            # only the pixels near the segment: farther ones lie beyond r and keep their nearest
            # distance (the same arithmetic on each pixel it reaches, so the same values)
            block = grid.around(min(x0, x1) - r, max(x0, x1) + r, min(y0, y1) - r, max(y0, y1) + r)
            if block is None:
                continue
            bs, bt = np.ascontiguousarray(s[block]), np.ascontiguousarray(t[block])
            dx, dy = x1 - x0, y1 - y0
            seg2 = dx * dx + dy * dy or 1e-12
            h = np.clip(((bs - x0) * dx + (bt - y0) * dy) / seg2, 0.0, 1.0)
            best[block] = np.minimum(best[block], np.hypot(bs - x0 - h * dx, bt - y0 - h * dy))
        chord = 2 * np.sqrt(np.clip(r * r - best * best, 0.0, None))
        return (scale * chord).astype(np.float32)


@dataclass(frozen=True)
class _PixelGrid:
    """Own coordinates (s, t) of a window of pixels, as an affine map of its rows and columns, to
    find the block of pixels around a box of own coordinates (plain floats: it runs per segment)."""

    shape: tuple[int, ...]
    origin: tuple[float, float]
    inverse: tuple[float, float, float, float] | None  # own-coordinate offset -> (column, row), row-major

    @classmethod
    def of(cls, s: np.ndarray, t: np.ndarray) -> _PixelGrid:
        if np.ndim(s) != 2 or min(np.shape(s)) < 2:
            return cls(np.shape(s), (0.0, 0.0), None)
        s0, t0 = float(s[0, 0]), float(t[0, 0])
        a, b = float(s[0, 1]) - s0, float(s[1, 0]) - s0  # s per column, per row
        c, d = float(t[0, 1]) - t0, float(t[1, 0]) - t0
        det = a * d - b * c
        if abs(det) < 1e-12:
            return cls(s.shape, (s0, t0), None)
        return cls(s.shape, (s0, t0), (d / det, -b / det, -c / det, a / det))

    def around(self, s0: float, s1: float, t0: float, t1: float) -> tuple[slice, slice] | EllipsisType | None:
        """The rows and columns of every pixel whose (s, t) lies in the box (two pixels' margin
        beyond it); every pixel (``...``) where the points are not a regular 2-D grid; None when
        no pixel is."""
        if self.inverse is None:
            return ...
        i00, i01, i10, i11 = self.inverse
        cols, rows = [], []
        for ds in (s0 - self.origin[0], s1 - self.origin[0]):
            for dt in (t0 - self.origin[1], t1 - self.origin[1]):
                cols.append(i00 * ds + i01 * dt)
                rows.append(i10 * ds + i11 * dt)
        c0, c1 = max(math.floor(min(cols)) - 2, 0), min(math.ceil(max(cols)) + 3, self.shape[1])
        r0, r1 = max(math.floor(min(rows)) - 2, 0), min(math.ceil(max(rows)) + 3, self.shape[0])
        if c0 >= c1 or r0 >= r1:
            return None
        return slice(r0, r1), slice(c0, c1)


@dataclass(frozen=True)
class Polygon(Shape):
    """Flat convex polygon (vertices counter-clockwise, relative to the centre): blades, wedges."""

    vertices: tuple[tuple[float, float], ...]
    thickness: float

    def radius(self) -> float:
        return max(math.hypot(x, y) for x, y in self.vertices)

    def path_length(self, u, v, pitch=0.0):
        s, t = self._own(u, v)
        inside = np.ones(np.shape(s), dtype=bool)
        ring = (*self.vertices, self.vertices[0])
        for (x0, y0), (x1, y1) in itertools.pairwise(ring):
            inside &= (x1 - x0) * (t - y0) - (y1 - y0) * (s - x0) >= 0
        return np.where(inside, np.float32(self.thickness), np.float32(0.0))


def zigzag(length: float, width: float, turns: int) -> tuple[tuple[float, float], ...]:
    """Points of a zigzag across ``width`` along ``length``, centred on the origin."""
    xs = np.linspace(-length / 2, length / 2, turns + 1)
    return tuple((float(x), (width / 2) * (1 if i % 2 else -1)) for i, x in enumerate(xs))


def helix(length: float, diameter: float, turns: int, samples: int = 8) -> tuple[tuple[float, float], ...]:
    """Points of a coil spring seen from the side, centred on the origin."""
    phase = np.linspace(0, 2 * np.pi * turns, turns * samples + 1)
    xs = np.linspace(-length / 2, length / 2, phase.size)
    return tuple((float(x), float(diameter / 2 * np.sin(p))) for x, p in zip(xs, phase, strict=True))


def cable_route(rng: np.random.Generator, direction: float, length: float,
                steps: int = 6) -> tuple[tuple[float, float], ...]:
    """Points of a cable lying loose from the origin, setting off along ``direction`` (radians) and
    bending at random over ``length`` cm."""
    angles = direction + np.cumsum(rng.normal(0, 0.35, steps))
    pts = [(0.0, 0.0)]
    for a in angles:
        px, py = pts[-1]
        pts.append((px + length / steps * np.cos(a), py + length / steps * np.sin(a)))
    return tuple((float(a), float(b)) for a, b in pts)
