"""Points of a search space: a trial chooses only the knobs its pipeline reads (models.knobs), in
order, each from what the space lists for it; grid, sampled and first points (torch- and Ray-free)."""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from models.knobs import KNOBS, default_optimizer, modes_for, reads
from study.config import IntRange, LogRange, SpaceConfig

# model spec fields → the space fields that list their choices
SPACE_FIELDS = {"pipeline": "pipelines", "backbone": "backbones", "modality": "modalities",
                "optimizer": "optimizers", "lr": "lr", "batch_size": "batch_size",
                "ssn_feature": "ssn_features", "k": "k", "lam": "lam", "mode": "modes",
                "anomaly_fraction": "anomaly_fractions"}

Options = list | IntRange | LogRange


def options(space: SpaceConfig, point: dict, knob: str) -> Options | None:
    """What ``knob`` may take for a trial whose earlier choices are ``point``; None when the trial
    does not read it or the space leaves it out (the model spec's default then holds)."""
    if knob != "pipeline" and not reads(point, knob):
        return None
    values = getattr(space, SPACE_FIELDS[knob])
    if knob == "optimizer" and values is None:
        return [default_optimizer(point["pipeline"])]
    if knob == "mode" and values is not None:
        return modes_for(point["pipeline"], point["backbone"], values)
    return values


def grid_points(space: SpaceConfig) -> list[dict]:
    """Every combination of the listed choices, each knob only where the trial reads it."""
    points: list[dict] = [{}]
    for knob in KNOBS:
        grown = []
        for point in points:
            values = options(space, point, knob)
            if values is None:
                grown.append(point)
            elif isinstance(values, IntRange | LogRange):
                raise ValueError(f"space.{SPACE_FIELDS[knob]}: a grid search needs a list, not a range")
            else:
                grown += [{**point, knob: value} for value in values]
        points = grown
    return points


class Chooser(Protocol):
    """Where a sampled point's choices come from: a seeded generator, or an Optuna trial."""

    def choice(self, knob: str, values: list) -> Any: ...

    def integer(self, knob: str, low: int, high: int) -> int: ...

    def log_uniform(self, knob: str, low: float, high: float) -> float: ...


def choose_point(space: SpaceConfig, chooser: Chooser) -> dict:
    """One point, each knob the trial reads chosen by ``chooser`` in order (define-by-run)."""
    point: dict = {}
    for knob in KNOBS:
        values = options(space, point, knob)
        if values is None:
            continue
        if isinstance(values, IntRange):
            point[knob] = chooser.integer(knob, values.low, values.high)
        elif isinstance(values, LogRange):
            point[knob] = chooser.log_uniform(knob, values.low, values.high)
        else:
            point[knob] = chooser.choice(knob, list(values))
    return point


class RandomChooser:
    """Choices from a seeded numpy generator: lists uniformly, integers inclusive, log-uniform floats."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def choice(self, knob: str, values: list) -> Any:
        return values[int(self.rng.integers(len(values)))]

    def integer(self, knob: str, low: int, high: int) -> int:
        return int(self.rng.integers(low, high + 1))

    def log_uniform(self, knob: str, low: float, high: float) -> float:
        return float(math.exp(self.rng.uniform(math.log(low), math.log(high))))


def random_points(space: SpaceConfig, n: int, seed: int) -> list[dict]:
    """``n`` points sampled with ``seed``: the same points for the same space and seed."""
    chooser = RandomChooser(seed)
    return [choose_point(space, chooser) for _ in range(n)]


class FirstChooser:
    """The first choice of a list, the low end of a range, or a value the caller fixed."""

    def __init__(self, fixed: dict):
        self.fixed = dict(fixed)
        self.used: set[str] = set()

    def _first(self, knob: str, first):
        if knob in self.fixed:
            self.used.add(knob)
            return self.fixed[knob]
        return first

    def choice(self, knob: str, values: list) -> Any:
        return self._first(knob, values[0])

    def integer(self, knob: str, low: int, high: int) -> int:
        return self._first(knob, low)

    def log_uniform(self, knob: str, low: float, high: float) -> float:
        return self._first(knob, low)


def first_point(space: SpaceConfig, fixed: dict | None = None) -> dict:
    """The space's first point with ``fixed`` knobs set; a fixed knob the trial would not read, or
    that the space leaves to the spec's default, is refused (it could not act)."""
    fixed = {k: v for k, v in (fixed or {}).items() if v is not None}
    if "pipeline" in fixed:  # the pipeline decides which knobs follow
        space = space.model_copy(update={"pipelines": [fixed["pipeline"]]})
    chooser = FirstChooser(fixed)
    point = choose_point(space, chooser)
    idle = sorted(set(fixed) - chooser.used - {"pipeline"})
    for knob in idle:
        if not reads(point, knob):
            raise ValueError(f"{knob}: a {point['pipeline']} trial with these choices does not read it")
        point[knob] = fixed[knob]  # read, but left to the spec's default by the space: set it
    return point
