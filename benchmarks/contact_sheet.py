"""A contact sheet of world 2: three models of every item class, each a benign unit alone on the
tray, in pseudo-colour with its labelled parts outlined (docs/simulator.md shows it).

    .venv/bin/python -m benchmarks.contact_sheet --out docs/world2-models.png
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw

from scans.phantoms.catalogue import model_name
from scans.phantoms.families import FAMILIES, unit_of
from scans.phantoms.scene import Placement, Rasteriser
from scans.physics.calibration import effective_z
from scans.physics.colour import render_pseudo_colour
from scans.physics.forward import transmissions
from scans.physics.spectrum import ScannerModel

TILE_CM, TILE_PX = 40.0, 200


def unit_image(item_class: str, model: int, seed: int = 0) -> np.ndarray:
    """One benign unit of a model, centred, in pseudo-colour, its labelled parts' edges marked."""
    design = unit_of(item_class, model, np.random.default_rng(seed))
    pitch = TILE_CM / TILE_PX
    raster = Rasteriser(TILE_PX, TILE_PX, pitch)
    where = Placement(design, TILE_PX / 2, TILE_PX / 2, 0.0)
    for part in design.parts:
        raster.draw(part, where, 1)
    scanner = ScannerModel()
    low, high = transmissions(raster.areal, scanner=scanner)
    zeff, _ = effective_z(high, low, scanner)
    rgb = render_pseudo_colour(zeff, high).copy()
    parts = raster.parts
    edge = np.zeros(parts.shape, bool)
    edge[1:, :] |= parts[1:, :] != parts[:-1, :]
    edge[:, 1:] |= parts[:, 1:] != parts[:, :-1]
    rgb[edge & (parts > 0)] = (255, 0, 255)
    return rgb


def contact_sheet(models_per_class: int = 3) -> Image.Image:
    classes = sorted(FAMILIES)
    sheet = Image.new("RGB", (TILE_PX * models_per_class + 130, TILE_PX * len(classes)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, item_class in enumerate(classes):
        draw.text((6, row * TILE_PX + TILE_PX // 2), item_class, fill="black")
        for col in range(models_per_class):
            tile = Image.fromarray(unit_image(item_class, col * 17))
            sheet.paste(tile, (130 + col * TILE_PX, row * TILE_PX))
            name = model_name(item_class, col * 17)
            draw.text((134 + col * TILE_PX, row * TILE_PX + 4), name, fill="black")
    return sheet


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/world2-models.png")
    parser.add_argument("--models", type=int, default=3)
    args = parser.parse_args(argv)
    contact_sheet(args.models).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
