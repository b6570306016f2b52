"""Scene composition: items, anomalies and clutter on a tray, rasterised to areal densities and labels."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scans.phantoms.anomalies import add_anomaly
from scans.phantoms.design import ItemDesign, Part
from scans.phantoms.worlds import WORLDS
from scans.physics.forward import all_materials
from scans.physics.materials import get_material, material_index

DEFAULT_FOV_CM = 50.0  # field of view across the image: about 2 mm per pixel at 256²


@dataclass
class Scene:
    """Ground truth of one scan before the detector: areal densities and every label map."""

    areal_density: np.ndarray  # (M, H, W) g/cm², M = len(all_materials())
    objects: np.ndarray  # int32 H×W, 0 = background, i = item i
    parts: np.ndarray  # int32 H×W, 0 = none, one id per part and anomaly
    anomaly: np.ndarray  # uint8 H×W
    object_class: list[str]
    object_anomalous: list[bool]
    anomaly_kinds: list[str]  # per item, "" when benign
    object_model: list[str] | None = None  # per item, the model it was built from (world 2)


@dataclass(frozen=True)
class Placement:
    """An item design placed in the image: centre in pixels, rotation in radians."""

    design: ItemDesign
    cx: float
    cy: float
    angle: float


class Rasteriser:
    """Accumulates parts of placed items into areal-density planes and label maps."""

    def __init__(self, height: int, width: int, pitch_cm: float):
        self.shape = (height, width)
        self.pitch = pitch_cm
        self.areal = np.zeros((len(all_materials()), height, width), dtype=np.float32)
        self.objects = np.zeros(self.shape, dtype=np.int32)
        self.parts = np.zeros(self.shape, dtype=np.int32)
        self.anomaly = np.zeros(self.shape, dtype=np.uint8)
        self.n_parts = 0

    def draw(self, part: Part, where: Placement, object_id: int = 0) -> bool:
        """Draw one part; returns whether it landed on any pixel."""
        window = self._window(part, where)
        if window is None:
            return False
        (rows, cols), (u, v) = window
        path = part.shape.path_length(u, v, self.pitch)
        material = get_material(part.material)
        density = material.density if part.density is None else part.density
        self.areal[material_index()[part.material], rows, cols] += density * path
        if not part.labelled:
            return False
        mask = path > 0
        if not mask.any():
            return False
        self.n_parts += 1
        self.parts[rows, cols][mask] = self.n_parts
        if object_id:
            self.objects[rows, cols][mask] = object_id
        if part.anomaly:
            self.anomaly[rows, cols][mask] = 1
        return True

    def _window(self, part: Part, where: Placement):
        u0, u1, v0, v1 = part.shape.bounds()
        pad = self.pitch
        c, s = math.cos(where.angle), math.sin(where.angle)
        corners = [(cu, cv) for cv in (v0 - pad, v1 + pad) for cu in (u0 - pad, u1 + pad)]
        xs = [where.cx + (c * cu - s * cv) / self.pitch for cu, cv in corners]  # plain floats: per part
        ys = [where.cy + (s * cu + c * cv) / self.pitch for cu, cv in corners]
        x0, x1 = max(math.floor(min(xs)), 0), min(math.ceil(max(xs)) + 1, self.shape[1])
        y0, y1 = max(math.floor(min(ys)), 0), min(math.ceil(max(ys)) + 1, self.shape[0])
        if x0 >= x1 or y0 >= y1:
            return None
        dx = ((np.arange(x0, x1, dtype=np.float32) + 0.5 - where.cx) * self.pitch)[None, :]
        dy = ((np.arange(y0, y1, dtype=np.float32) + 0.5 - where.cy) * self.pitch)[:, None]
        u = c * dx + s * dy
        v = -s * dx + c * dy
        return (slice(y0, y1), slice(x0, x1)), (u, v)


def _place(rng, design: ItemDesign, placed: list[Placement], height, width, pitch) -> Placement:
    """Random pose inside the image, avoiding heavy overlap with items already placed."""
    radius = math.hypot(design.width, design.height) / 2 / pitch
    best = None
    for _ in range(25):
        margin_x = min(radius * 0.6, width / 2)
        margin_y = min(radius * 0.6, height / 2)
        cx, cy = rng.uniform(margin_x, width - margin_x), rng.uniform(margin_y, height - margin_y)
        clearance = min(
            (math.hypot(cx - p.cx, cy - p.cy)
             / (radius + math.hypot(p.design.width, p.design.height) / 2 / pitch)
             for p in placed),
            default=1.0,
        )
        if best is None or clearance > best[0]:
            best = (clearance, cx, cy)
        if clearance > 0.6:
            break
    return Placement(design, best[1], best[2], float(rng.uniform(0, 2 * np.pi)))


def compose_scene(
    rng: np.random.Generator,
    height: int = 256,
    width: int = 256,
    anomaly_rate: float = 0.5,
    n_items: tuple[int, int] = (1, 3),
    item_classes: tuple[str, ...] | None = None,
    fov_cm: float = DEFAULT_FOV_CM,
    anomaly_kinds: tuple[str, ...] | None = None,
    anomaly_scale: float = 1.0,
    anomaly_aligned: bool = False,
    world: int = 1,
    model_ids: dict[str, list[int]] | None = None,
) -> Scene:
    """One scan's contents in ``world``: tray and clutter, ``n_items`` items (inclusive range) of
    ``item_classes`` (default every class of the world), in world 2 each a unit of one of the
    class's ``model_ids`` (default all), anomalies hidden in each item with probability
    ``anomaly_rate``, of ``anomaly_kinds`` (default: every registered kind), sized ×
    ``anomaly_scale``, along the item's axes with ``anomaly_aligned``."""
    pitch = fov_cm / max(height, width)
    rules = WORLDS[str(world)]
    classes = rules.classes() if item_classes is None else item_classes
    for name in classes:
        rules.check_class(name)  # unknown names fail here, listing the valid ones
    raster = Rasteriser(height, width, pitch)
    centre = Placement(ItemDesign("tray", 0, 0), width / 2, height / 2, 0.0)
    for part in rules.clutter(rng, width * pitch, height * pitch):
        raster.draw(part, centre)

    count = int(rng.integers(n_items[0], n_items[1] + 1))
    placements, kinds = [], []
    for _ in range(count):
        design = rules.item(rng, classes[int(rng.integers(len(classes)))], model_ids)
        hides = rng.random() < anomaly_rate
        kinds.append(add_anomaly(rng, design, kinds=anomaly_kinds, scale=anomaly_scale,
                                 aligned=anomaly_aligned) if hides else "")
        placements.append(_place(rng, design, placements, height, width, pitch))
    for object_id, where in enumerate(placements, start=1):
        for part in where.design.parts:
            if not part.anomaly:
                raster.draw(part, where, object_id)
    # Anomalies last, so the item that hides one owns its pixels in every label map.
    landed = [False] * count
    for object_id, where in enumerate(placements, start=1):
        for part in where.design.parts:
            if part.anomaly:
                landed[object_id - 1] |= raster.draw(part, where, object_id)
    return Scene(
        areal_density=raster.areal,
        objects=raster.objects,
        parts=raster.parts,
        anomaly=raster.anomaly,
        object_class=[p.design.item_class for p in placements],
        object_anomalous=landed,
        anomaly_kinds=[k if ok else "" for k, ok in zip(kinds, landed, strict=True)],
        object_model=[p.design.model for p in placements] if rules.has_models else None,
    )
