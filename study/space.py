"""Search spaces, search algorithms and schedulers for Tune, built from a StudyConfig: every trial
chooses only the knobs its pipeline reads (study.points)."""

from __future__ import annotations

from functools import partial
from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import BasicVariantGenerator, Searcher
from ray.tune.search.optuna import OptunaSearch

from study.config import SpaceConfig, StudyConfig
from study.points import SPACE_FIELDS, choose_point, grid_points, random_points


class OptunaChooser:
    """Choices from an Optuna trial, named ``point/<knob>`` (Tune unflattens them into the trial's
    ``point``). A knob whose choices depend on earlier ones (the mode on the backbone) is suggested
    under its own name per set of choices: Optuna keeps one distribution per name."""

    def __init__(self, trial, space: SpaceConfig):
        self.trial, self.space = trial, space
        self.constants: dict[str, Any] = {}

    def choice(self, knob: str, values: list) -> Any:
        if len(values) == 1:  # nothing to choose: a constant of the point, not a parameter
            self.constants[f"point/{knob}"] = values[0]
            return values[0]
        if values == getattr(self.space, SPACE_FIELDS[knob]):
            return self.trial.suggest_categorical(f"point/{knob}", values)
        value = self.trial.suggest_categorical(f"{knob} of {'|'.join(map(str, values))}", values)
        self.constants[f"point/{knob}"] = value
        return value

    def integer(self, knob: str, low: int, high: int) -> int:
        return self.trial.suggest_int(f"point/{knob}", low, high)

    def log_uniform(self, knob: str, low: float, high: float) -> float:
        return self.trial.suggest_float(f"point/{knob}", low, high, log=True)


def optuna_point(space: SpaceConfig, trial) -> dict[str, Any]:
    """Optuna's define-by-run space: one point chosen knob by knob; the constants it returns join
    the suggested values in the trial's config."""
    chooser = OptunaChooser(trial, space)
    choose_point(space, chooser)
    return chooser.constants


def param_space(config: StudyConfig) -> dict:
    """{"point": ...}: the grid's points or the random search's sampled ones as explicit points;
    empty for Optuna, whose searcher chooses each point (optuna_point)."""
    search = config.search
    if search.algorithm == "grid":
        return {"point": tune.grid_search(grid_points(config.space))}
    if search.algorithm == "random":
        return {"point": tune.grid_search(random_points(config.space, search.num_samples, search.seed))}
    return {}


def num_samples(config: StudyConfig) -> int:
    """Tune's num_samples: repeats of the grid, Optuna's trials; the random search's points are
    already sampled (param_space), so it runs them once."""
    return 1 if config.search.algorithm == "random" else config.search.num_samples


def search_algorithm(config: StudyConfig) -> Searcher | BasicVariantGenerator:
    """Optuna TPE (seeded, define-by-run over the conditional space), or Tune's variant generator
    for the grid and the random search's points (it takes the concurrency limit itself: TuneConfig's
    applies to Searchers only)."""
    if config.search.algorithm == "optuna":
        return OptunaSearch(space=partial(optuna_point, config.space), metric="objective",
                            mode=config.objective.mode, seed=config.search.seed)
    return BasicVariantGenerator(random_state=config.search.seed,
                                 max_concurrent=config.search.max_concurrent or 0)


def scheduler(config: StudyConfig) -> TrialScheduler:
    """ASHA over epochs (training_iteration), or first-in-first-out."""
    if config.search.scheduler == "asha":
        asha = config.search.asha
        return ASHAScheduler(time_attr="training_iteration", max_t=asha.max_t or config.epochs,
                             grace_period=asha.grace_period, reduction_factor=asha.reduction_factor)
    return FIFOScheduler()
