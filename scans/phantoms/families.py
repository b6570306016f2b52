"""World 2's item classes as design families: a model is a seeded draw of a family's layout (which
optional parts it has, where each sits, its sizes and materials, its screw pattern, its cable's
exit); a unit of a model differs from another only by tolerances, contents and pose."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from scans.phantoms.catalogue import model_name, model_rng
from scans.phantoms.design import ItemDesign
from scans.phantoms.kit import Unit, foam, harness, mesh_heater, screws, shell, spring
from scans.phantoms.shapes import Cylinder, Disc, Ellipsoid, Polygon, Shell, Slab, Wire
from scans.registry import Registry

# (model's generator, unit's generator, model name) -> one unit of that model
FamilyBuilder = Callable[[np.random.Generator, np.random.Generator, str], ItemDesign]
FAMILIES: Registry[FamilyBuilder] = Registry("item family")


@FAMILIES.register("laptop")
def laptop(m, u, name) -> ItemDesign:
    """Laptops: casing, display, keyboard; boards, battery (pouch or cells), fans, heat pipes,
    speakers, drive bay, shields and ribbon cables where the model puts them."""
    t = Unit("laptop", name, m, u, (28, 38), (19, 26))
    d = t.design
    shell(t, "aluminium" if t.chance(0.35) else "abs", 0.1 if t.chance(0.5) else 0.18, 2.0, 1.0)
    t.add("display", "glass", Slab(0, 0, 0, d.width - 1.6, d.height - 1.6, 0.07, 0.6))
    if t.chance(0.8):
        kx, ky = t.spot(d.width * 0.85, d.height * 0.36, avoid=False)
        t.add("keyboard", "abs", Slab(kx, ky, 0, d.width * 0.85, d.height * 0.36, 0.3, 0.3))
    boards = int(m.integers(1, 3))
    for _ in range(boards):
        t.board(d.width * float(m.uniform(0.25, 0.6)), d.height * float(m.uniform(0.2, 0.35)),
                chips=int(m.integers(2, 7)))
    t.battery(d.width * float(m.uniform(0.4, 0.75)), d.height * float(m.uniform(0.15, 0.3)))
    for _ in range(int(m.integers(0, 3))):
        fx, fy = t.fan(float(m.uniform(1.8, 3.5)))
        bx, by, _, _ = t.boards[0]
        t.heat_pipe((bx, by), (fx, fy))
    for _ in range(int(m.integers(0, 3))):
        t.speaker(float(m.uniform(0.5, 1.5)))
    if t.chance(0.3):
        t.drive()
    for sx in (-1, 1):
        t.add("hinge", "steel", Slab(sx * d.width * float(m.uniform(0.2, 0.4)), -d.height / 2 + 0.8, 0,
                                     2.5, 1.0, 0.3))
    harness(t)
    screws(t)
    return t.finish()


@FAMILIES.register("tablet")
def tablet(m, u, name) -> ItemDesign:
    """Tablets: glass front, metal or plastic back, one or two pouch batteries, a board strip."""
    t = Unit("tablet", name, m, u, (16, 28), (12, 20))
    d = t.design
    shell(t, t.choice(("aluminium", "abs")), 0.08, 0.7, 0.8)
    t.add("display", "glass", Slab(0, 0, 0, d.width - 0.6, d.height - 0.6, 0.1, 0.6))
    for _ in range(int(m.integers(1, 3))):
        t.battery(d.width * float(m.uniform(0.25, 0.45)), d.height * float(m.uniform(0.4, 0.7)))
    t.board(d.width * float(m.uniform(0.15, 0.3)), d.height * float(m.uniform(0.4, 0.8)),
            chips=int(m.integers(2, 5)), thickness=0.1)
    for _ in range(int(m.integers(2, 5))):
        t.speaker(float(m.uniform(0.3, 0.8)))
    cx, cy = t.spot(0.8, 0.8)
    t.add("camera", "steel", Disc(cx, cy, 0, 0.5, 0.5, 0.4, inner=0.6))
    harness(t)
    return t.finish()


@FAMILIES.register("mobile")
def mobile(m, u, name) -> ItemDesign:
    """Phones: frame, display and back glass, pouch battery, logic board, cameras, vibrator."""
    t = Unit("mobile", name, m, u, (6.5, 8.2), (13.5, 17.0), tolerance_cm=0.05)
    d = t.design
    shell(t, "aluminium" if t.chance(0.6) else "abs", 0.1, 0.8, 0.9)
    t.add("display", "glass", Slab(0, 0, 0, d.width - 0.3, d.height - 0.3, 0.12, 0.8))
    t.add("back_glass", "glass", Slab(0, 0, 0, d.width - 0.3, d.height - 0.3, 0.07, 0.8), labelled=False)
    t.battery(d.width * float(m.uniform(0.6, 0.85)), d.height * float(m.uniform(0.35, 0.55)))
    t.board(d.width * float(m.uniform(0.5, 0.85)), d.height * float(m.uniform(0.15, 0.35)),
            chips=int(m.integers(2, 5)), thickness=0.1)
    for _ in range(int(m.integers(1, 4))):
        cx, cy = t.spot(1.0, 1.0)
        r = float(m.uniform(0.3, 0.6))
        t.add("camera", "steel", Disc(cx, cy, 0, r, r, 0.5, inner=0.6))
        t.add("camera_lens", "glass", Disc(cx, cy, 0, r * 0.6, r * 0.6, 0.5))
    t.speaker(float(m.uniform(0.3, 0.6)))
    vx, vy = t.spot(1.0, 0.5)
    t.add("vibrator", "steel", Cylinder(vx, vy, 0, 1.0, 0.4))
    return t.finish()


@FAMILIES.register("power_bank")
def power_bank(m, u, name) -> ItemDesign:
    """Power banks: a row of 18650 cells or a pouch, a charge board, a USB port."""
    t = Unit("power_bank", name, m, u, (9, 16), (6, 9))
    d = t.design
    shell(t, t.choice(("aluminium", "abs")), 0.12, 2.2, 0.6)
    if t.chance(0.6):
        n = int(m.integers(1, 4))
        for i in range(n):
            t.add("battery_cell", "li_ion", Cylinder(-d.width * 0.1, (i - (n - 1) / 2) * 1.9, 0,
                                                     min(6.5, d.width * 0.7), 1.8))
        t.taken.append((-d.width * 0.1, 0.0, d.width * 0.7, n * 1.9))
    else:
        t.battery(d.width * 0.7, d.height * 0.75)
    t.board(d.width * float(m.uniform(0.15, 0.25)), d.height * 0.7, chips=int(m.integers(1, 4)))
    px = d.width / 2 - 0.6
    t.add("port", "steel", Slab(px, float(m.uniform(-1, 1)) * d.height * 0.25, 0, 0.8, 1.2, 0.5))
    return t.finish()


@FAMILIES.register("external_drive")
def external_drive(m, u, name) -> ItemDesign:
    """External drives: a 2.5-inch disk or an SSD board in a plastic or aluminium case, a bridge
    board, rubber bumpers on some."""
    t = Unit("external_drive", name, m, u, (11, 14), (7.5, 9.5), tolerance_cm=0.08)
    shell(t, t.choice(("abs", "aluminium")), 0.12, 1.5, 0.5)
    t.drive()
    t.board(2.5, 3.0, chips=int(m.integers(1, 3)))
    if t.chance(0.4):
        foam(t)
    return t.finish()


@FAMILIES.register("game_controller")
def game_controller(m, u, name) -> ItemDesign:
    """Game controllers: a plastic body with two grips, a board, rumble motors in the grips, stick
    springs, a small battery."""
    t = Unit("game_controller", name, m, u, (14, 17), (9, 11))
    d = t.design
    hw, hh = d.width / 2, d.height / 2
    depth = float(m.uniform(2.0, 3.5))
    t.add("body", "abs", Slab(0, hh * 0.2, 0, d.width, d.height * 0.6, depth, float(m.uniform(1.0, 2.5))))
    for sx in (-1, 1):  # the grips, turned out as the model has them
        t.add("grip", "abs", Ellipsoid(sx * hw * 0.62, -hh * 0.45, sx * float(m.uniform(0.2, 0.6)), hw * 0.28,
                                       hh * 0.5, depth))
    t.body = (0.0, hh * 0.2, d.width * 0.7, d.height * 0.45)
    t.board(d.width * float(m.uniform(0.3, 0.55)), d.height * float(m.uniform(0.25, 0.4)),
            chips=int(m.integers(2, 5)), region=(0, hh * 0.2, d.width * 0.9, d.height * 0.55))
    for sx in (-1, 1):
        t.motor(1.8, 1.2, region=(sx * hw * 0.62, -hh * 0.45, 3.0, 3.0))
    for _ in range(2):
        spring(t)
    t.battery(float(m.uniform(2.5, 4.5)), float(m.uniform(1.5, 3.0)),
              region=(0, 0, d.width * 0.5, d.height * 0.5))
    grips = [(sx * hw * 0.55, -hh * 0.4, hw * 0.5, hh * 0.8) for sx in (-1, 1)]
    return t.finish([(0, hh * 0.2, d.width * 0.8, d.height * 0.5), *grips])


@FAMILIES.register("camera")
def camera(m, u, name) -> ItemDesign:
    """Cameras: a body with a lens barrel (glass elements in a metal tube), a sensor board, a
    battery, a flash capacitor on some."""
    t = Unit("camera", name, m, u, (10, 14), (6.5, 9))
    d = t.design
    shell(t, t.choice(("abs", "aluminium")), 0.15, 4.0, 0.8)
    lx = float(m.uniform(-0.2, 0.2)) * d.width
    r = float(m.uniform(2.0, 3.2))
    t.add("lens_barrel", "aluminium", Disc(lx, 0, 0, r, r, 3.0, inner=0.8))
    for i in range(int(m.integers(2, 5))):
        t.add("lens_element", "glass", Disc(lx, 0, 0, r * 0.75, r * 0.75, 0.4), labelled=i == 0)
    t.taken.append((lx, 0.0, 2 * r, 2 * r))
    t.board(d.width * 0.6, d.height * 0.6, chips=int(m.integers(2, 5)))
    t.battery(float(m.uniform(2.0, 3.5)), float(m.uniform(3.5, 5.0)))
    if t.chance(0.5):
        cx, cy = t.spot(2.0, 1.2)
        t.add("flash_capacitor", "aluminium", Cylinder(cx, cy, 0, 2.0, 1.2))
    return t.finish()


@FAMILIES.register("headphones")
def headphones(m, u, name) -> ItemDesign:
    """Over-ear headphones folded flat: a steel band, two cups with driver magnets, a battery and
    board in one cup, a cable between them."""
    t = Unit("headphones", name, m, u, (15, 19), (16, 20))
    d = t.design
    r = float(m.uniform(3.5, 4.5))
    cy = -d.height / 2 + r
    band = tuple((float(x), float(y)) for x, y in
                 zip(np.linspace(-d.width / 2 + r, d.width / 2 - r, 9),
                     cy + (d.height - 2 * r) * np.sin(np.linspace(0, math.pi, 9)), strict=True))
    t.add("headband", "steel", Wire(0, 0, 0, band, float(m.uniform(0.3, 0.6))))
    t.add("headband_padding", "polyethylene", Wire(0, 0, 0, band, 1.6), density=0.3, labelled=False)
    t.body = (-(d.width / 2 - r), cy, r * 1.2, r * 1.4)
    cups = []
    for sx in (-1, 1):
        x = sx * (d.width / 2 - r)
        t.add("ear_cup", "abs", Disc(x, cy, 0, r, r * 1.15, 3.0, inner=0.85))
        t.add("driver_magnet", "magnet", Disc(x, cy, 0, r * 0.3, r * 0.3, 0.5))
        t.add("ear_cushion", "polyethylene", Disc(x, cy, 0, r, r * 1.15, 2.0), density=0.08, labelled=False)
        cups.append((x, cy, r * 1.4, r * 1.6))
        t.taken.append((x, cy, r * 0.6, r * 0.6))
    t.board(r * 0.8, r * 0.6, chips=2, region=cups[0])
    t.battery(r * 0.8, r * 0.5, region=cups[1])
    t.add("cable", "pvc", Wire(0, 0, 0, band, 0.15), labelled=False)
    screws(t, "board_corners", radius=0.12)
    return t.finish(cups)


@FAMILIES.register("hairdryer")
def hairdryer(m, u, name) -> ItemDesign:
    """Hairdryers: a barrel with motor, fan and heating coil, a handle (straight or folding) with
    switch and cable."""
    length, diameter, handle = float(m.uniform(16, 25)), float(m.uniform(6, 9)), float(m.uniform(9, 14))
    t = Unit("hairdryer", name, m, u, (length, length), (diameter + handle, diameter + handle))
    top = -handle / 2
    t.add("barrel", "abs", Cylinder(0, top, 0, length, diameter, hollow=0.94))
    barrel = (0.0, top, length * 0.9, diameter * 0.7)
    t.body = barrel
    hx = float(m.uniform(-0.35, 0.1)) * length
    t.add("handle", "abs", Shell(hx, top + diameter / 2 + handle / 2 - 0.5, 0, 3.6, handle, 0.18, 3.0, 1.2))
    handle_rect = (hx, top + diameter / 2 + handle / 2, 2.6, handle * 0.7)
    # the motor and fan somewhere in the back half of the barrel, the heater in the front half
    t.motor(3.0, float(m.uniform(2.4, 3.6)), region=(-length * 0.22, top, length * 0.5, diameter * 0.5))
    t.add("fan", "abs", Slab(-length * float(m.uniform(0.25, 0.45)), top, 0, 0.8, diameter * 0.8, 2.0))
    coil_len = length * float(m.uniform(0.25, 0.45))
    cx = length * float(m.uniform(0.05, 0.45))
    t.coil(coil_len, diameter * 0.5, int(m.integers(8, 18)), region=(cx, top, coil_len, diameter * 0.5))
    t.add("heater_mica", "mica", Slab(cx, top, 0, coil_len, diameter * 0.6, 0.05))
    sx, sy = t.spot(1.2, 2.2, handle_rect)
    t.add("switch", "abs", Slab(sx, sy, 0, 1.2, 2.2, 1.0))
    t.cable(hx, top + diameter / 2 + handle - 0.5, math.pi / 2, 14.0)
    screws(t, t.choice(("ribs", "perimeter")), radius=0.15)
    return t.finish([barrel, handle_rect])


@FAMILIES.register("shaver")
def shaver(m, u, name) -> ItemDesign:
    """Shavers and hair straighteners: a handle with motor and battery; cutter foils and blades
    (edged steel) at the head, or two heated plates."""
    t = Unit("shaver", name, m, u, (4.5, 7), (13, 28))
    d = t.design
    shell(t, "abs", 0.15, 3.0, 1.2)
    if t.chance(0.6):  # a shaver: foils and blades at the head
        hy = d.height / 2 - 1.5
        for i in range(int(m.integers(1, 4))):
            x = (i - 1) * 1.3
            t.add("cutter_blade", "steel", Slab(x, hy, 0, 1.1, 1.4, 0.08), looks_like="blade")
            t.add("foil", "steel", Slab(x, hy, 0, 1.2, 1.6, 0.01), labelled=False)
        t.motor(2.0, 1.5)
    else:  # a straightener: two long heated plates with their heaters
        plate = d.height * 0.45
        t.add("heated_plate", "aluminium", Slab(0, d.height / 4, 0, d.width * 0.6, plate, 0.3))
        mesh_heater(t, (0, d.height / 4, d.width * 0.5, plate * 0.9), 2)
        t.cable(0, -d.height / 2, -math.pi / 2, 12.0)
    t.battery(d.width * 0.6, float(m.uniform(3.0, 6.0)))
    t.board(d.width * 0.6, float(m.uniform(2.0, 4.0)), chips=int(m.integers(1, 3)), thickness=0.1)
    return t.finish()


@FAMILIES.register("iron")
def iron(m, u, name) -> ItemDesign:
    """Steam irons: an aluminium soleplate with an embedded heating tube, a water tank (its level
    differs unit by unit), a thermostat, a handle."""
    length, width = float(m.uniform(23, 30)), float(m.uniform(10, 13))
    t = Unit("iron", name, m, u, (length, length), (width, width))
    half_w, back, tip = width / 2, -length / 2, length / 2
    t.body = (-length * 0.1, 0.0, length * 0.7, width * 0.7)
    nose = float(m.uniform(0.2, 0.5))
    sole = ((back, -half_w), (tip * nose, -half_w), (tip, 0.0), (tip * nose, half_w), (back, half_w))
    t.add("soleplate", "aluminium", Polygon(0, 0, 0, sole, float(m.uniform(0.4, 0.7))))
    t.add("body", "abs", Shell(-0.5, 0, 0, length * 0.85, width * 0.9, 0.2, 8.0, 3.0))
    spread = float(m.uniform(0.35, 0.6))
    loop = ((back + 3, -half_w * spread), (tip * 0.45, -half_w * 0.45), (tip * 0.7, 0.0),
            (tip * 0.45, half_w * 0.45), (back + 3, half_w * spread))
    t.add("heating_tube", "steel", Wire(0, 0, 0, loop, 0.7))
    t.add("heating_wire", "nichrome", Wire(0, 0, 0, loop, 0.12), labelled=False)
    tw, th = length * float(m.uniform(0.25, 0.45)), width * float(m.uniform(0.4, 0.65))
    tx, ty = t.spot(tw, th)
    t.add("water_tank", "polypropylene", Shell(tx, ty, 0, tw, th, 0.15, 4.0, 1.5))
    if u.random() < 0.6:  # how full this unit's tank is
        t.add("water", "water", Slab(tx, ty, 0, tw * 0.9, th * 0.9, float(u.uniform(0.3, 3.0)), 1.2))
    sx, sy = t.spot(2.4, 2.4)
    t.add("thermostat", "steel", Disc(sx, sy, 0, 1.2, 1.2, 0.4))
    t.add("handle", "abs", Shell(-length * 0.05, 0, 0, length * 0.55, 3.0, 0.2, 3.0, 1.2))
    t.cable(back + 0.5, float(m.uniform(-1, 1)), math.pi, 14.0)
    return t.finish([(0.0, 0.0, length * 0.75, width * 0.7)])


@FAMILIES.register("toaster")
def toaster(m, u, name) -> ItemDesign:
    """Toasters seen from above: a steel or plastic shell, one to four slots with heating wire on
    mica, a crumb tray, a control board."""
    t = Unit("toaster", name, m, u, (22, 36), (13, 22))
    d = t.design
    shell(t, t.choice(("steel", "abs")), 0.05 if t.chance(0.6) else 0.2, float(m.uniform(16, 20)), 2.0)
    slots = int(m.integers(1, 5))
    for s in range(slots):
        y = (s - (slots - 1) / 2) * d.height * 0.6 / max(slots, 1)
        for wall in (-1, 1):
            mesh_heater(t, (0, y + wall * 1.4, d.width * 0.7, 0.12), 1)
        guide = tuple((float(x), 0.8 * (-1) ** i)
                      for i, x in enumerate(np.linspace(-d.width * 0.33, d.width * 0.33, 11)))
        t.add("bread_guide", "steel", Wire(0, y, 0, guide, 0.2), looks_like="blade")
    t.add("crumb_tray", "steel", Slab(0, 0, 0, d.width * 0.8, d.height * 0.75, 0.08),
          looks_like="metal_plate")
    t.add("lever", "steel", Slab(d.width * 0.45 * t.choice((-1, 1)), 0, 0, 1.4, 4.0, 0.4))
    t.board(float(m.uniform(3, 5)), float(m.uniform(2, 3.5)), chips=int(m.integers(1, 3)), thickness=0.12)
    t.cable(-d.width / 2 + 0.5, float(m.uniform(-0.3, 0.3)) * d.height, math.pi, 14.0)
    return t.finish()


@FAMILIES.register("kettle")
def kettle(m, u, name) -> ItemDesign:
    """Kettles: a round or square body (steel or plastic), a concealed heating element or coil at
    the base, a handle, a thermostat disc, water on some units."""
    t = Unit("kettle", name, m, u, (15, 22), (15, 22))
    d = t.design
    r = min(d.width, d.height) / 2 - 2.0
    t.body = (0.0, 0.0, r * 1.3, r * 1.3)
    if t.chance(0.5):
        t.add("body", t.choice(("steel", "abs")), Disc(0, 0, 0, r, r, float(m.uniform(0.1, 0.3)), inner=0.97))
    else:
        t.add("body", t.choice(("steel", "abs")), Shell(0, 0, 0, 2 * r, 2 * r, 0.15, 18.0, 3.0))
    t.add("base_plate", "steel", Disc(0, 0, 0, r * 0.9, r * 0.9, 0.1), looks_like="metal_plate")
    ring = float(m.uniform(0.4, 0.75)) * r
    angles = np.linspace(0, 2 * math.pi * 0.9, 16)
    element = tuple((float(ring * math.cos(a)), float(ring * math.sin(a))) for a in angles)
    t.add("heating_element", "steel", Wire(0, 0, 0, element, 0.6))
    t.add("heating_wire", "nichrome", Wire(0, 0, 0, element, 0.1), labelled=False)
    t.add("handle", "abs", Shell(r + 1.2, 0, 0, 2.5, r * 1.4, 0.2, 3.0, 1.0))
    where = float(m.uniform(0, 2 * math.pi))  # the thermostat somewhere near the rim
    t.add("thermostat", "steel", Disc(r * 0.7 * math.cos(where), r * 0.7 * math.sin(where), 0, 0.9, 0.9, 0.3))
    if u.random() < 0.4:
        t.add("water", "water", Disc(0, 0, 0, r * 0.95, r * 0.95, float(u.uniform(1.0, 8.0))))
    t.board(2.0, 1.5, chips=1, region=(r + 1.2, 0, 2.0, r))
    return t.finish([(0.0, 0.0, r * 1.4, r * 1.4)])


def unit_of(item_class: str, model: int, unit: np.random.Generator) -> ItemDesign:
    """One unit of model number ``model`` of ``item_class``, its tolerances drawn from ``unit``."""
    return FAMILIES[item_class](model_rng(item_class, model), unit, model_name(item_class, model))
