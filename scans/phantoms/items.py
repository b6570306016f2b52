"""Item registry: procedural laptops, phones, hairdryers, irons and toasters from real parts."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scans.phantoms.design import ItemDesign
from scans.phantoms.shapes import Cylinder, Disc, Polygon, Shell, Slab, Wire, cable_route, helix, zigzag
from scans.registry import Registry

ItemBuilder = Callable[[np.random.Generator], ItemDesign]
ITEMS: Registry[ItemBuilder] = Registry("item")


def _board(d: ItemDesign, rng, cx, cy, w, h, chips: int, thickness=0.16) -> None:
    """A PCB with a copper layer, chips and screws at its corners."""
    d.add("pcb", "fr4", Slab(cx, cy, 0.0, w, h, thickness, 0.2))
    d.add("pcb_copper", "copper", Slab(cx, cy, 0.0, w * 0.95, h * 0.95, 0.006), labelled=False)
    for _ in range(chips):
        cw, ch = rng.uniform(0.12, 0.35) * w, rng.uniform(0.15, 0.4) * h
        x = cx + rng.uniform(-(w - cw) / 2, (w - cw) / 2)
        y = cy + rng.uniform(-(h - ch) / 2, (h - ch) / 2)
        d.add("chip", "abs", Slab(x, y, 0.0, cw, ch, 0.12, 0.05))
        d.add("chip_die", "silicon", Slab(x, y, 0.0, cw * 0.5, ch * 0.5, 0.05), labelled=False)
    for sx in (-1, 1):
        for sy in (-1, 1):
            d.add_screw(cx + sx * (w / 2 - 0.5), cy + sy * (h / 2 - 0.5), rng)


def _cable(d: ItemDesign, rng, x, y, direction: float, length: float) -> None:
    """A mains cable leaving the item: PVC insulation around two copper cores."""
    pts_t = cable_route(rng, direction, length)
    d.add("cable", "pvc", Wire(x, y, 0.0, pts_t, 0.6))
    d.add("cable_core", "copper", Wire(x, y, 0.0, pts_t, 0.18), labelled=False)


@ITEMS.register("laptop")
def laptop(rng: np.random.Generator) -> ItemDesign:
    """Closed laptop: casing, display, keyboard, mainboard, heat sink, fan, battery, screws."""
    w, h = rng.uniform(30, 36), rng.uniform(21, 25)
    d = ItemDesign("laptop", w, h)
    metal_body = rng.random() < 0.3
    d.add("casing", "aluminium" if metal_body else "abs",
          Shell(0, 0, 0, w, h, 0.1 if metal_body else 0.18, rng.uniform(1.6, 2.2), 1.0))
    d.add("display", "glass", Slab(0, 0, 0, w - 1.6, h - 1.6, 0.07, 0.6))
    d.add("keyboard", "abs", Slab(0, h * 0.1, 0, w * 0.85, h * 0.36, 0.3, 0.3))
    board_w, board_h = w * rng.uniform(0.5, 0.7), h * 0.3
    _board(d, rng, 0.0, -h * 0.28, board_w, board_h, chips=int(rng.integers(3, 6)))
    fan_x = rng.choice([-1, 1]) * w * 0.3
    d.add("fan", "abs", Disc(fan_x, -h * 0.27, 0, 3.0, 3.0, 0.5))
    d.add("fan_motor", "copper", Disc(fan_x, -h * 0.27, 0, 0.8, 0.8, 0.25))
    d.add("heat_pipe", "copper", Cylinder(fan_x / 2, -h * 0.3, 0, abs(fan_x), 0.6, hollow=0.8))
    for i in range(6):
        d.add("heat_sink", "aluminium",
              Slab(fan_x + (i - 2.5) * 0.5, -h * 0.27 - 3.6, 0, 0.08, 1.6, 1.0), labelled=i == 0)
    if rng.random() < 0.5:  # cylindrical cells under the palm rest
        n = int(rng.integers(3, 6))
        for i in range(n):
            d.add("battery_cell", "li_ion", Cylinder((i - (n - 1) / 2) * 6.8, h * 0.35, 0, 6.5, 1.8))
        d.hideouts.append((0.0, h * 0.35, n * 6.8, 2.0))
    else:  # flat pouch
        d.add("battery", "li_ion", Slab(0, h * 0.32, 0, w * 0.7, h * 0.24, 0.6, 0.4))
        d.hideouts.append((0.0, h * 0.32, w * 0.7, h * 0.24))
    for sx in (-1, 1):
        d.add("speaker", "magnet", Disc(sx * w * 0.42, h * 0.3, 0, 0.5, 0.5, 0.3))
        d.add("hinge", "steel", Slab(sx * w * 0.32, -h / 2 + 0.8, 0, 2.5, 1.0, 0.3))
        d.add("port", "steel", Slab(sx * (w / 2 - 0.6), -h * 0.05, 0, 0.8, 1.4, 0.5))
    for x in np.linspace(-w / 2 + 1.0, w / 2 - 1.0, 4):
        for y in (-h / 2 + 1.0, h / 2 - 1.0):
            d.add_screw(float(x), y, rng)
    d.hideouts += [(0.0, h * 0.1, w * 0.7, h * 0.3), (-fan_x, -h * 0.28, w * 0.25, h * 0.25)]
    return d


@ITEMS.register("mobile")
def mobile(rng: np.random.Generator) -> ItemDesign:
    """Mobile phone: frame, display and back glass, pouch battery, logic board, camera."""
    w, h = rng.uniform(6.8, 8.0), rng.uniform(14.0, 16.5)
    d = ItemDesign("mobile", w, h)
    d.add("frame", "aluminium" if rng.random() < 0.6 else "abs",
          Shell(0, 0, 0, w, h, 0.1, 0.8, 0.9))
    d.add("display", "glass", Slab(0, 0, 0, w - 0.3, h - 0.3, 0.12, 0.8))
    d.add("back_glass", "glass", Slab(0, 0, 0, w - 0.3, h - 0.3, 0.07, 0.8), labelled=False)
    d.add("battery", "li_ion", Slab(0, h * 0.12, 0, w * 0.8, h * 0.5, 0.45, 0.2))
    _board(d, rng, 0.0, -h * 0.3, w * 0.8, h * 0.25, chips=int(rng.integers(2, 4)), thickness=0.1)
    d.add("shield", "steel", Slab(0, -h * 0.3, 0, w * 0.5, h * 0.15, 0.02), labelled=False)
    d.add("camera", "steel", Disc(-w * 0.25, -h * 0.42, 0, 0.6, 0.6, 0.5, inner=0.6))
    d.add("camera_lens", "glass", Disc(-w * 0.25, -h * 0.42, 0, 0.36, 0.36, 0.5))
    d.add("speaker", "magnet", Slab(w * 0.25, h * 0.45, 0, 1.2, 0.5, 0.25))
    d.add("vibrator", "steel", Cylinder(-w * 0.25, h * 0.44, 0, 1.0, 0.4))
    d.hideouts += [(0.0, h * 0.12, w * 0.7, h * 0.45), (0.0, -h * 0.15, w * 0.7, h * 0.1)]
    return d


@ITEMS.register("hairdryer")
def hairdryer(rng: np.random.Generator) -> ItemDesign:
    """Hairdryer: barrel with motor, fan and NiCr heating coil, handle with switch, cable."""
    length, diameter = rng.uniform(18, 24), rng.uniform(6.5, 8.5)
    handle = rng.uniform(10, 13)
    d = ItemDesign("hairdryer", length, diameter + handle)
    top = -handle / 2
    d.add("barrel", "abs", Cylinder(0, top, 0, length, diameter, hollow=0.94))
    d.add("nozzle", "abs", Slab(length / 2 + 1.5, top, 0, 3.0, diameter * 0.6, 0.4, 0.3))
    d.add("handle", "abs", Shell(-length * 0.2, top + diameter / 2 + handle / 2 - 0.5, 0,
                                  3.6, handle, 0.18, 3.0, 1.2))
    d.add("motor_core", "steel", Cylinder(-length * 0.28, top, 0, 3.0, 2.6))
    d.add("motor_winding", "copper", Cylinder(-length * 0.28, top, 0, 2.4, 3.4, hollow=0.75))
    d.add("fan", "abs", Slab(-length * 0.4, top, 0, 0.8, diameter * 0.8, 2.0))
    d.add("heater_mica", "mica", Slab(length * 0.12, top, 0, length * 0.45, diameter * 0.6, 0.05))
    d.add("heater_coil", "nichrome",
          Wire(length * 0.12, top, 0, helix(length * 0.42, diameter * 0.5, 14), 0.06))
    sx, sy = -length * 0.2, top + diameter / 2 + 2.5
    d.add("switch", "abs", Slab(sx, sy, 0, 1.2, 2.2, 1.0))
    d.add("switch_contacts", "copper", Slab(sx, sy, 0, 0.6, 1.2, 0.05), labelled=False)
    _cable(d, rng, -length * 0.2, top + diameter / 2 + handle - 0.5, np.pi / 2, 14.0)
    for y in (top + 1.0, top + diameter / 2 + handle - 2.0):
        d.add_screw(-length * 0.2, y, rng, radius=0.15)
    d.hideouts += [(-length * 0.2, top + diameter / 2 + handle / 2, 2.6, handle * 0.6),
                   (length * 0.05, top, length * 0.35, diameter * 0.5)]
    return d


@ITEMS.register("iron")
def iron(rng: np.random.Generator) -> ItemDesign:
    """Steam iron: Al soleplate with embedded heating tube, water tank, thermostat, handle."""
    length, width = rng.uniform(24, 29), rng.uniform(10.5, 12.5)
    d = ItemDesign("iron", length, width)
    half_w, back, tip = width / 2, -length / 2, length / 2
    sole = ((back, -half_w), (tip * 0.35, -half_w), (tip, 0.0), (tip * 0.35, half_w), (back, half_w))
    d.add("soleplate", "aluminium", Polygon(0, 0, 0, sole, rng.uniform(0.4, 0.7)))
    d.add("body", "abs", Shell(-0.5, 0, 0, length * 0.85, width * 0.9, 0.2, 8.0, 3.0))
    u = ((back + 3, -half_w * 0.6), (tip * 0.45, -half_w * 0.45), (tip * 0.7, 0.0),
         (tip * 0.45, half_w * 0.45), (back + 3, half_w * 0.6))
    d.add("heating_tube", "steel", Wire(0, 0, 0, u, 0.7))
    d.add("heating_wire", "nichrome", Wire(0, 0, 0, u, 0.12), labelled=False)
    d.add("water_tank", "polypropylene", Shell(length * 0.1, 0, 0, length * 0.4, width * 0.6,
                                               0.15, 4.0, 1.5))
    if rng.random() < 0.6:
        d.add("water", "water", Slab(length * 0.1, 0, 0, length * 0.36, width * 0.55,
                                     rng.uniform(0.5, 3.0), 1.2))
    d.add("thermostat", "steel", Disc(-length * 0.1, 0, 0, 1.2, 1.2, 0.4))
    d.add("thermostat_contacts", "copper", Slab(-length * 0.1, 0, 0, 1.4, 0.3, 0.1), labelled=False)
    d.add("handle", "abs", Shell(-length * 0.05, 0, 0, length * 0.55, 3.0, 0.2, 3.0, 1.2))
    _cable(d, rng, back + 0.5, 0, np.pi, 14.0)
    for x in (back + 2.0, tip * 0.4):
        d.add_screw(x, 0.0, rng)
    d.hideouts += [(length * 0.1, 0.0, length * 0.3, width * 0.4),
                   (-length * 0.25, 0.0, length * 0.2, width * 0.5)]
    return d


@ITEMS.register("toaster")
def toaster(rng: np.random.Generator) -> ItemDesign:
    """Toaster seen from above: steel shell, two slots with NiCr heating wire on mica."""
    length, width = rng.uniform(26, 32), rng.uniform(15, 19)
    d = ItemDesign("toaster", length, width)
    d.add("casing", "steel", Shell(0, 0, 0, length, width, 0.05, rng.uniform(16, 20), 2.0))
    for side in (-1, 1):
        y = side * width * 0.2
        for wall in (-1, 1):
            yy = y + wall * 1.6
            d.add("heater_mica", "mica", Slab(0, yy, 0, length * 0.75, 0.1, 14.0))
            d.add("heater_wire", "nichrome", Wire(0, yy, 0, zigzag(length * 0.72, 0.3, 24), 0.05),
                  labelled=False)
        d.add("bread_guide", "steel", Wire(0, y, 0, zigzag(length * 0.7, 1.6, 10), 0.2))
    d.add("crumb_tray", "steel", Slab(0, 0, 0, length * 0.8, width * 0.75, 0.08))
    d.add("lever", "steel", Slab(length * 0.45, 0, 0, 1.4, 4.0, 0.4))
    d.add("end_cap", "abs", Slab(-length / 2 + 1.2, 0, 0, 2.4, width - 0.4, 3.0, 0.8))
    _board(d, rng, length * 0.4, width * 0.32, 3.5, 2.5, chips=1, thickness=0.12)
    _cable(d, rng, -length / 2 + 0.5, width * 0.3, np.pi, 14.0)
    d.hideouts += [(0.0, 0.0, length * 0.6, 1.6), (length * 0.38, -width * 0.25, 3.0, 4.0)]
    return d
