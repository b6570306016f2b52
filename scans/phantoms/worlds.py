"""The simulator's worlds: world 1, close to one template per item class with anomalies in fixed
hiding places (kept byte for byte), and world 2, many models per class (families.py) with
look-alikes, bag contents and anomalies anywhere inside an item."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scans.phantoms.catalogue import MODELS_PER_CLASS
from scans.phantoms.clutter import world1_clutter, world2_clutter
from scans.phantoms.design import ItemDesign, Part
from scans.phantoms.families import FAMILIES, unit_of
from scans.phantoms.items import ITEMS
from scans.registry import Registry


@dataclass(frozen=True)
class World:
    """How one world draws items and what lies beside them."""

    number: int
    registry: Registry  # its item classes
    clutter: Callable[[np.random.Generator, float, float], list[Part]]
    has_models: bool  # items are units of catalogued models (recorded as object_model)

    def classes(self) -> tuple[str, ...]:
        """Every item class of the world, sorted."""
        return tuple(sorted(self.registry))

    def check_class(self, name: str) -> None:
        """Fails on a class the world does not have, listing the ones it has."""
        if name not in self.registry:
            raise KeyError(f"world {self.number} has no item class {name!r}; its classes: "
                           f"{', '.join(self.classes())}")

    def item(self, rng: np.random.Generator, item_class: str,
             model_ids: dict[str, list[int]] | None = None) -> ItemDesign:
        """One item of ``item_class``: world 1's template, or in world 2 a unit of one of the
        class's ``model_ids`` (default every model), its tolerances drawn from ``rng``."""
        if not self.has_models:
            return self.registry[item_class](rng)
        ids = (model_ids or {}).get(item_class) or range(MODELS_PER_CLASS)
        index = int(ids[int(rng.integers(len(ids)))])
        return unit_of(item_class, index, rng)


WORLDS: Registry[World] = Registry("world")
WORLDS.add("1", World(1, ITEMS, world1_clutter, has_models=False))
WORLDS.add("2", World(2, FAMILIES, world2_clutter, has_models=True))
DEFAULT_WORLD = 2


def world_classes(world: int) -> tuple[str, ...]:
    """The item classes of ``world``."""
    return WORLDS[str(world)].classes()
