"""How varied each world's items are, per class: distinct layouts, own-screw counts, how far each
major part's centre moves in the item's own frame, and how alike two benign items of a class look.

World 1 draws its one template per class ``--draws`` times; world 2 draws one unit of each of its
models. Measured on designs (before placement and physics), so nothing here depends on the scanner.

* layouts: distinct multisets of labelled part names (which parts, how many);
* screws: the fewest and most own screws;
* spread: each major part's centre in the item's normalised frame (its outline spans [-1, 1] on
  each axis: a share of the half-extent), its standard deviation over designs on the axis where it
  moves most (the median over the class's major parts, and the least-moving one);
* alike: the mean correlation of two designs' mass images (every part's areal density, summed over
  materials) rasterised in the item's own frame, 40×40 over its outline.

Run: .venv/bin/python -m benchmarks.world_variety [--draws 60]
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections import Counter

import numpy as np

from scans.phantoms.catalogue import MODELS_PER_CLASS
from scans.phantoms.design import ItemDesign
from scans.phantoms.families import FAMILIES, unit_of
from scans.phantoms.items import ITEMS
from scans.phantoms.scene import Placement, Rasteriser

# parts whose place a design decides (the casing, display and screws excepted)
MAJOR = ("pcb", "battery", "battery_cell", "fan", "speaker", "drive_body", "motor_core", "heater_coil",
         "camera", "water_tank", "thermostat", "keyboard", "switch", "vibrator", "heat_pipe", "shield")
GRID = 40


def designs(world: int, item_class: str, draws: int) -> list[ItemDesign]:
    """``draws`` world-1 items, or one unit of each world-2 model."""
    if world == 1:
        return [ITEMS[item_class](np.random.default_rng([7, i])) for i in range(draws)]
    return [unit_of(item_class, i, np.random.default_rng([7, i])) for i in range(MODELS_PER_CLASS)]


def layout(design: ItemDesign) -> tuple:
    return tuple(sorted(Counter(p.name for p in design.parts if p.labelled).items()))


def mass_image(design: ItemDesign) -> np.ndarray:
    """The design's areal density summed over materials, GRID² over its own outline."""
    pitch = max(design.width, design.height) / GRID
    raster = Rasteriser(GRID, GRID, pitch)
    where = Placement(design, GRID / 2, GRID / 2, 0.0)
    for part in design.parts:
        raster.draw(part, where)
    return raster.areal.sum(0).ravel()


def centre_spread(found: list[ItemDesign]) -> dict[str, float]:
    """Per major part name present in a quarter of the designs or more: the std of its first instance's
    centre in the item's normalised frame ([-1, 1]), on the axis where it moves most."""
    out = {}
    for name in MAJOR:
        points = []
        for d in found:
            part = next((p for p in d.parts if p.name == name), None)
            if part is not None:
                points.append((part.shape.cx / (d.width / 2), part.shape.cy / (d.height / 2)))
        if len(points) >= max(3, len(found) // 4):
            out[name] = float(np.asarray(points).std(0).max())
    return out


def alike(found: list[ItemDesign], pairs: int = 200, seed: int = 0) -> float:
    images = [mass_image(d) for d in found]
    rng = np.random.default_rng(seed)
    combos = list(itertools.combinations(range(len(images)), 2))
    chosen = [combos[i] for i in rng.choice(len(combos), min(pairs, len(combos)), replace=False)]
    return float(np.mean([np.corrcoef(images[a], images[b])[0, 1] for a, b in chosen]))


def row(world: int, item_class: str, draws: int) -> str:
    found = designs(world, item_class, draws)
    screws = [len(d.screw_sites) for d in found]
    spread = centre_spread(found)
    values = sorted(spread.values())
    least = min(spread, key=spread.get) if spread else "—"
    return (f"| {item_class} | {world} | {len({layout(d) for d in found})} of {len(found)} | "
            f"{min(screws)}–{max(screws)} | {np.median(values) if values else 0:.3f} | "
            f"{least} {spread.get(least, 0):.3f} | {alike(found):.2f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=MODELS_PER_CLASS, help="world-1 items per class")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    print("| class | world | layouts | own screws | centre spread, median | least-moving part | alike |")
    print("|---|---|---|---|---|---|---|")
    for item_class in sorted(FAMILIES):
        for world in (1, 2):
            if world == 1 and item_class not in ITEMS:
                continue
            print(row(world, item_class, args.draws))
    print(f"\n{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
