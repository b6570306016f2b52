"""Search spaces, search algorithms and schedulers for Tune, built from a StudyConfig."""

from __future__ import annotations

import itertools

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import BasicVariantGenerator, Searcher
from ray.tune.search.optuna import OptunaSearch

from study.config import IntRange, LogRange, SpaceConfig, StudyConfig
from study.pipelines import PIPELINES

# space fields → ModelSpec fields; the last five mean nothing to pipelines without superpixels
FIELDS = {"pipelines": "pipeline", "backbones": "backbone", "modalities": "modality",
          "optimizers": "optimizer", "lr": "lr", "batch_size": "batch_size",
          "k": "k", "lam": "lam", "ssn_features": "ssn_feature", "modes": "mode",
          "anomaly_fractions": "anomaly_fraction"}
SSN_ONLY = ("k", "lam", "ssn_feature", "mode", "anomaly_fraction")


def grid_points(space: SpaceConfig) -> list[dict]:
    """Every combination, once: points of pipelines without superpixels take the first SSN-only
    value instead of repeating for each."""
    values = {trial_key: getattr(space, field) for field, trial_key in FIELDS.items()}
    points, seen = [], set()
    for combo in itertools.product(*values.values()):
        point = dict(zip(values, combo, strict=True))
        if not PIPELINES[point["pipeline"]].superpixels:
            point.update({key: values[key][0] for key in SSN_ONLY})
        key = tuple(sorted(point.items()))
        if key not in seen:
            seen.add(key)
            points.append(point)
    return points


def _dimension(value):
    if isinstance(value, IntRange):
        return tune.randint(value.low, value.high + 1)
    if isinstance(value, LogRange):
        return tune.loguniform(value.low, value.high)
    return tune.choice(list(value))


def param_space(config: StudyConfig) -> dict:
    """{"point": ...}: a grid of explicit points, or one sampled dimension per trial field."""
    if config.search.algorithm == "grid":
        return {"point": tune.grid_search(grid_points(config.space))}
    return {"point": {key: _dimension(getattr(config.space, field)) for field, key in FIELDS.items()}}


def search_algorithm(config: StudyConfig) -> Searcher | BasicVariantGenerator:
    """Optuna TPE (seeded), or Tune's variant generator for grid and random search (which takes
    the concurrency limit itself: TuneConfig's applies to Searchers only)."""
    if config.search.algorithm == "optuna":
        return OptunaSearch(seed=config.search.seed)
    return BasicVariantGenerator(random_state=config.search.seed,
                                 max_concurrent=config.search.max_concurrent or 0)


def scheduler(config: StudyConfig) -> TrialScheduler:
    """ASHA over epochs (training_iteration), or first-in-first-out."""
    if config.search.scheduler == "asha":
        asha = config.search.asha
        return ASHAScheduler(time_attr="training_iteration", max_t=asha.max_t or config.epochs,
                             grace_period=asha.grace_period, reduction_factor=asha.reduction_factor)
    return FIFOScheduler()
