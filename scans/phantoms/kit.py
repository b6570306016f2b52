"""World 2's parts kit: one unit of a model, laid out by the model's generator (the same for every
unit) with a unit's tolerances, and the parts electronics are built from, benign look-alikes of
every anomaly kind among them."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from scans.phantoms.design import ItemDesign
from scans.phantoms.shapes import (
    Cylinder,
    Disc,
    Ellipsoid,
    Polygon,
    Shell,
    Slab,
    Wire,
    cable_route,
    helix,
    zigzag,
)

Rect = tuple[float, float, float, float]  # cx, cy, w, h in the item's own cm

# the anomaly kinds a benign part can resemble, and what real electronics carry that does
LOOK_ALIKES = {
    "metal_plate": "steel brackets and EMI shields of plate thickness",
    "blade": "pointed or edged metal: springs, fins, cutter foils, pointed brackets",
    "organic_block": "foam, rubber feet and potting of organic Z",
    "wire_bundle": "internal wire harnesses and ribbon cables",
    "extra_screws": "the model's own screws, in a pattern of its own",
}
SCREW_PATTERNS = ("perimeter", "board_corners", "ribs", "grid")


def _overlap(a: Rect, b: Rect) -> float:
    """Area of the intersection of two axis-aligned rectangles."""
    dx = min(a[0] + a[2] / 2, b[0] + b[2] / 2) - max(a[0] - a[2] / 2, b[0] - b[2] / 2)
    dy = min(a[1] + a[3] / 2, b[1] + b[3] / 2) - max(a[1] - a[3] / 2, b[1] - b[3] / 2)
    return max(dx, 0.0) * max(dy, 0.0)


class Unit:
    """One unit of a model being built: ``model`` draws its layout (every unit of the model draws
    the same), ``unit`` its tolerances (a few mm) and contents."""

    def __init__(self, item_class: str, name: str, model: np.random.Generator, unit: np.random.Generator,
                 width: tuple[float, float], height: tuple[float, float], tolerance_cm: float = 0.15):
        self.m, self.u, self.tolerance = model, unit, tolerance_cm
        w, h = float(model.uniform(*width)), float(model.uniform(*height))
        self.design = ItemDesign(item_class, self.jitter(w), self.jitter(h), model=name)
        self.taken: list[Rect] = []
        self.boards: list[Rect] = []
        self.body: Rect | None = None  # where loose parts go when the outline is not a rectangle

    # -- drawing the layout ------------------------------------------------------------------
    def jitter(self, value: float, scale: float = 1.0) -> float:
        """``value`` as one unit has it: off by the model's tolerance."""
        return float(value + self.u.normal(0.0, self.tolerance * scale))

    def choice(self, options):
        """One of ``options``, as the model has it."""
        return options[int(self.m.integers(len(options)))]

    def chance(self, p: float) -> bool:
        """Whether the model has something it has with probability ``p``."""
        return bool(self.m.random() < p)

    def spot(self, w: float, h: float, region: Rect | None = None, avoid: bool = True) -> tuple[float, float]:
        """Where the model puts a w×h part: anywhere its centre keeps it inside ``region`` (default
        the item's interior), the least crowded of a few draws; the unit's tolerance added."""
        cx, cy, rw, rh = region or self.inner()
        best = None
        for _ in range(8):
            x = cx + float(self.m.uniform(-1, 1)) * max(rw - w, 0.0) / 2
            y = cy + float(self.m.uniform(-1, 1)) * max(rh - h, 0.0) / 2
            crowd = sum(_overlap((x, y, w, h), r) for r in self.taken) if avoid else 0.0
            if best is None or crowd < best[0]:
                best = (crowd, x, y)
            if crowd == 0.0:
                break
        self.taken.append((best[1], best[2], w, h))
        return self.jitter(best[1]), self.jitter(best[2])

    def inner(self, wall: float = 0.6) -> Rect:
        """The item's inside: its ``body`` where the family set one, else its outline less ``wall`` cm."""
        if self.body is not None:
            return self.body
        d = self.design
        return 0.0, 0.0, max(d.width - 2 * wall, 0.5), max(d.height - 2 * wall, 0.5)

    def add(self, name: str, material: str, shape, **kwargs) -> None:
        self.design.add(name, material, shape, **kwargs)

    def finish(self, interior: list[Rect] | None = None) -> ItemDesign:
        """The unit, its interior (where an anomaly may lie) set, every kind of look-alike present."""
        carried = {p.looks_like for p in self.design.parts}
        for kind, add in LOOK_ALIKE_PARTS.items():
            if kind not in carried:
                add(self)
        if not self.design.screw_sites:
            screws(self)
        self.design.interior = interior or [self.inner()]
        return self.design

    # -- parts --------------------------------------------------------------------------------
    def board(self, w: float, h: float, chips: int, region: Rect | None = None,
              thickness: float = 0.16) -> Rect:
        """A PCB with its copper, chips laid out by the model, and an EMI shield on some models."""
        x, y = self.spot(w, h, region)
        self.add("pcb", "fr4", Slab(x, y, 0.0, w, h, thickness, 0.2))
        self.add("pcb_copper", "copper", Slab(x, y, 0.0, w * 0.95, h * 0.95, 0.006), labelled=False)
        for _ in range(chips):
            cw, ch = float(self.m.uniform(0.12, 0.35)) * w, float(self.m.uniform(0.15, 0.4)) * h
            px = x + float(self.m.uniform(-(w - cw) / 2, (w - cw) / 2))
            py = y + float(self.m.uniform(-(h - ch) / 2, (h - ch) / 2))
            self.add("chip", "abs", Slab(px, py, 0.0, cw, ch, 0.12, 0.05))
            self.add("chip_die", "silicon", Slab(px, py, 0.0, cw * 0.5, ch * 0.5, 0.05), labelled=False)
        if self.chance(0.5):
            sw, sh = w * float(self.m.uniform(0.3, 0.6)), h * float(self.m.uniform(0.3, 0.7))
            self.add("shield", "steel", Slab(x + float(self.m.uniform(-0.2, 0.2)) * w, y, 0.0, sw, sh,
                                             float(self.m.uniform(0.02, 0.2)), 0.1), looks_like="metal_plate")
        rect = (x, y, w, h)
        self.boards.append(rect)
        return rect

    def battery(self, w: float, h: float, region: Rect | None = None) -> None:
        """A pouch battery, or a row of cylindrical cells, as the model has it."""
        x, y = self.spot(w, h, region)
        if self.chance(0.5) and w > 7.0:
            n = max(1, int(w // 6.8))
            for i in range(n):
                self.add("battery_cell", "li_ion", Cylinder(x + (i - (n - 1) / 2) * 6.8, y, 0.0, 6.5,
                                                            min(1.8, h)))
        else:
            self.add("battery", "li_ion", Slab(x, y, 0.0, w, h, float(self.m.uniform(0.35, 0.8)), 0.3))

    def fan(self, radius: float, region: Rect | None = None) -> tuple[float, float]:
        x, y = self.spot(2 * radius, 2 * radius, region)
        self.add("fan", "abs", Disc(x, y, 0.0, radius, radius, 0.5))
        self.add("fan_motor", "copper", Disc(x, y, 0.0, radius * 0.27, radius * 0.27, 0.25))
        return x, y

    def heat_pipe(self, a: tuple[float, float], b: tuple[float, float]) -> None:
        """A copper heat pipe from a to b, with aluminium fins at b (edged metal)."""
        (x0, y0), (x1, y1) = a, b
        length, angle = math.hypot(x1 - x0, y1 - y0), math.atan2(y1 - y0, x1 - x0)
        self.add("heat_pipe", "copper", Cylinder((x0 + x1) / 2, (y0 + y1) / 2, angle, max(length, 0.5), 0.6,
                                                 hollow=0.8))
        fins(self, x1, y1, angle)

    def speaker(self, radius: float, region: Rect | None = None) -> None:
        x, y = self.spot(2 * radius, 2 * radius, region)
        self.add("speaker", "magnet", Disc(x, y, 0.0, radius * 0.5, radius * 0.5, 0.3))
        self.add("speaker_cone", "abs", Disc(x, y, 0.0, radius, radius, 0.1, inner=0.5), labelled=False)

    def motor(self, length: float, diameter: float, region: Rect | None = None, angle: float = 0.0) -> None:
        """A motor: steel core inside a copper winding."""
        x, y = self.spot(length, diameter, region)
        self.add("motor_core", "steel", Cylinder(x, y, angle, length * 0.8, diameter * 0.7))
        self.add("motor_winding", "copper", Cylinder(x, y, angle, length, diameter, hollow=0.75))

    def coil(self, length: float, diameter: float, turns: int, region: Rect | None = None,
             material: str = "nichrome") -> None:
        x, y = self.spot(length, diameter, region)
        self.add("heater_coil", material, Wire(x, y, 0.0, helix(length, diameter, turns), 0.06))

    def drive(self, region: Rect | None = None) -> None:
        """A 2.5-inch disk (aluminium body, platter, voice-coil magnet) or an SSD's board."""
        if self.chance(0.5):
            x, y = self.spot(10.0, 7.0, region)
            self.add("drive_body", "aluminium", Slab(x, y, 0.0, 10.0, 7.0, 0.7, 0.3))
            self.add("platter", "aluminium", Disc(x - 1.0, y, 0.0, 3.2, 3.2, 0.2, inner=0.2))
            self.add("voice_coil_magnet", "magnet", Slab(x + 3.5, y + 2.0, 0.0, 1.6, 1.2, 0.3))
        else:
            self.board(8.0, 2.2, chips=4, region=region, thickness=0.12)

    def cable(self, x: float, y: float, direction: float, length: float) -> None:
        """A mains or USB cable leaving the item, routed as this unit's lies."""
        points = cable_route(self.u, direction, length)
        self.add("cable", "pvc", Wire(x, y, 0.0, points, 0.6))
        self.add("cable_core", "copper", Wire(x, y, 0.0, points, 0.18), labelled=False)


# -- look-alikes: benign parts that share what an anomaly kind shows ---------------------------
def bracket(unit: Unit, pointed: bool | None = None) -> None:
    """A steel bracket of plate thickness, pointed at one end (edged metal) where ``pointed``, else
    flat (a plate); as the model has it when None."""
    w, h = float(unit.m.uniform(1.5, 5.0)), float(unit.m.uniform(0.8, 3.0))
    x, y = unit.spot(w, h, avoid=False)
    angle = unit.choice((0.0, math.pi / 2))
    if unit.chance(0.5) if pointed is None else pointed:
        outline = ((-w / 2, -h / 2), (w / 2 - h, -h / 2), (w / 2, 0.0), (w / 2 - h, h / 2), (-w / 2, h / 2))
        unit.add("bracket", "steel", Polygon(x, y, angle, outline, float(unit.m.uniform(0.08, 0.2))),
                 looks_like="blade")
    else:
        unit.add("bracket", "steel", Slab(x, y, angle, w, h, float(unit.m.uniform(0.05, 0.25)), 0.05),
                 looks_like="metal_plate")


def fins(unit: Unit, x: float, y: float, angle: float = 0.0) -> None:
    """A stack of thin aluminium fins (edged metal)."""
    n, pitch = int(unit.m.integers(4, 9)), float(unit.m.uniform(0.3, 0.6))
    c, s = math.cos(angle), math.sin(angle)
    for i in range(n):
        off = (i - (n - 1) / 2) * pitch
        unit.add("fin", "aluminium", Slab(x - s * off, y + c * off, angle, 1.8, 0.06, 0.8),
                 labelled=i == 0, looks_like="blade")


def spring(unit: Unit) -> None:
    """A steel coil spring (buttons, battery contacts, latches)."""
    length = float(unit.m.uniform(1.0, 3.0))
    x, y = unit.spot(length, 0.6, avoid=False)
    unit.add("spring", "steel", Wire(x, y, unit.choice((0.0, math.pi / 2)), helix(length, 0.5, 6), 0.05),
             looks_like="blade")


def foam(unit: Unit) -> None:
    """Foam padding, rubber feet or potting compound: organic Z, as an explosive simulant has."""
    w, h = float(unit.m.uniform(1.5, 5.0)), float(unit.m.uniform(1.0, 3.5))
    x, y = unit.spot(w, h, avoid=False)
    what = unit.choice(("foam", "rubber_feet", "potting"))
    if what == "foam":
        unit.add("foam", "polyethylene", Slab(x, y, 0.0, w, h, float(unit.m.uniform(0.3, 1.5)), 0.3),
                 density=float(unit.m.uniform(0.05, 0.3)), looks_like="organic_block")
    elif what == "rubber_feet":
        cx, cy, iw, ih = unit.inner(0.8)
        for sx in (-1, 1):
            for sy in (-1, 1):
                foot = Disc(cx + sx * (iw / 2 - 0.6), cy + sy * (ih / 2 - 0.6), 0.0, 0.6, 0.6, 0.4)
                unit.add("rubber_foot", "polyethylene", foot, density=1.1, looks_like="organic_block")
    else:
        unit.add("potting", "abs", Ellipsoid(x, y, 0.0, w / 2, h / 2, float(unit.m.uniform(0.5, 1.8))),
                 density=float(unit.m.uniform(1.2, 1.7)), looks_like="organic_block")


def harness(unit: Unit) -> None:
    """An internal wire harness (a few insulated strands) or a flat ribbon cable."""
    length = float(unit.m.uniform(3.0, 9.0))
    x, y = unit.spot(min(length, unit.inner()[2]), 1.0, avoid=False)
    angle = float(unit.m.uniform(0, math.pi))
    xs = np.linspace(-length / 2, length / 2, 6)
    if unit.chance(0.5):  # a ribbon: parallel copper strands in one flat PVC band
        strands = int(unit.m.integers(6, 16))
        width = strands * 0.06
        unit.add("ribbon_cable", "pvc", Slab(x, y, angle, length, width, 0.05, 0.0), looks_like="wire_bundle")
        for i in range(strands):
            off = (i - (strands - 1) / 2) * 0.06
            points = tuple((float(a), off) for a in xs)
            unit.add("ribbon_core", "copper", Wire(x, y, angle, points, 0.02), labelled=False)
        return
    bend = unit.u.normal(0, 0.3, xs.size)  # how this unit's harness lies
    for i in range(int(unit.m.integers(2, 6))):
        offset = (i - 1.5) * 0.12
        points = tuple((float(a), float(b + offset)) for a, b in zip(xs, bend, strict=True))
        unit.add("harness", "pvc", Wire(x, y, angle, points, 0.2), labelled=i == 0, looks_like="wire_bundle")
        unit.add("harness_core", "copper", Wire(x, y, angle, points, 0.08), labelled=False)


def screws(unit: Unit, pattern: str | None = None, radius: float = 0.2) -> None:
    """The model's own screws in one of the pattern families: rows along the perimeter, the boards'
    corners, bosses along ribs, or a grid."""
    pattern = pattern or unit.choice(SCREW_PATTERNS)
    cx, cy, iw, ih = unit.inner(0.9)
    sites: list[tuple[float, float]] = []
    if pattern == "board_corners" and unit.boards:
        for bx, by, bw, bh in unit.boards:
            sites += [(bx + sx * (bw / 2 - 0.4), by + sy * (bh / 2 - 0.4))
                      for sx in (-1, 1) for sy in (-1, 1)]
    elif pattern == "ribs":
        ribs = int(unit.m.integers(1, 4))
        for r in range(ribs):
            y = (r - (ribs - 1) / 2) * ih / max(ribs, 1)
            along = np.linspace(-iw / 2, iw / 2, int(unit.m.integers(2, 5)))
            sites += [(cx + float(x), cy + y) for x in along]
    elif pattern == "grid":
        nx, ny = int(unit.m.integers(2, 4)), int(unit.m.integers(2, 4))
        sites += [(cx + float(x), cy + float(y)) for x in np.linspace(-iw / 2, iw / 2, nx)
                  for y in np.linspace(-ih / 2, ih / 2, ny)]
    else:  # perimeter: rows along the long sides, sometimes the short ones too
        n = int(unit.m.integers(2, 6))
        sites += [(cx + float(x), cy + sy * ih / 2)
                  for x in np.linspace(-iw / 2, iw / 2, n) for sy in (-1, 1)]
        if unit.chance(0.5):
            sites += [(cx + sx * iw / 2, cy) for sx in (-1, 1)]
    keep = unit.m.random(len(sites)) < float(unit.m.uniform(0.6, 1.0))  # models leave some sites out
    for (x, y), kept in zip(sites, keep, strict=True):
        if kept or len(unit.design.screw_sites) < 2:
            dx, dy = unit.u.normal(0, 0.03, 2)  # a unit's tolerance
            unit.design.add_screw(x + float(dx), y + float(dy), unit.m, radius=radius)
    unit.design.parts = [replace(p, looks_like="extra_screws") if p.name == "screw" else p
                         for p in unit.design.parts]


def plate(unit: Unit) -> None:
    """A flat steel bracket or shield of plate thickness."""
    bracket(unit, pointed=False)


LOOK_ALIKE_PARTS = {"metal_plate": plate, "blade": spring, "organic_block": foam, "wire_bundle": harness,
                    "extra_screws": screws}


def shell(unit: Unit, material: str, wall: float, depth: float, corner: float) -> None:
    """The item's casing."""
    d = unit.design
    unit.add("casing", material, Shell(0.0, 0.0, 0.0, d.width, d.height, wall, depth, corner))


def mesh_heater(unit: Unit, region: Rect, rows: int) -> None:
    """Heating wire zigzagging on mica across ``region``."""
    cx, cy, w, h = region
    unit.add("heater_mica", "mica", Slab(cx, cy, 0.0, w, h, 0.05))
    for r in range(rows):
        y = cy + (r - (rows - 1) / 2) * h / max(rows, 1)
        wire = Wire(cx, y, 0.0, zigzag(w * 0.95, h / max(rows, 1) * 0.8, 16), 0.05)
        unit.add("heater_wire", "nichrome", wire, labelled=False)
