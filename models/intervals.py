"""95 % intervals of the metrics: exact binomial ones for rates, a bootstrap over scans (a scan's
items resampled together) for AUROC, AP and F1, and the paired bootstrap of a difference."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta

ROUNDS = 1000
CONFIDENCE = 0.95
_CHUNK_CELLS = 4_000_000  # rounds × items per chunk of count matrices (32 MB of float64)
# the rates that are a count over a count: their intervals are exact binomial (Clopper–Pearson)
PROPORTIONS = {"accuracy": 1.0, "precision": 1.0, "tp_pct": 100.0, "fp_pct": 100.0}
# the figures whose intervals resample scans
BOOTSTRAPPED = ("f1", "auroc", "ap", "best_f1")


def scan_groups(scans: np.ndarray | None, n: int) -> np.ndarray:
    """(n,) group of each item: its scan, or each item its own group when scans are unknown
    (bootstrap_counts numbers the groups)."""
    if scans is None:
        return np.arange(n, dtype=np.int64)
    scans = np.asarray(scans).ravel()
    if scans.size != n:
        raise ValueError(f"{scans.size} scan ids for {n} items")
    return scans


def bootstrap_counts(groups: np.ndarray | int, rounds: int = ROUNDS, seed: int = 0) -> Iterator[np.ndarray]:
    """Chunks of (r, n) float64 matrices: how often each of ``n`` items is drawn in each round, where
    a round draws the groups (scans) with replacement and every item of a drawn group comes with it;
    ``rounds`` rows over all chunks. ``groups`` is each item's group id, or an item count (each item
    its own group). The same seed and groups give the same rounds, so two score sets of the same
    items get paired resamples."""
    groups = np.arange(groups) if isinstance(groups, int | np.integer) else np.asarray(groups)
    index = np.unique(groups, return_inverse=True)[1].ravel()
    n_groups = int(index.max()) + 1 if index.size else 0
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // max(index.size, n_groups, 1))
    done = 0
    while done < rounds:
        r = min(chunk, rounds - done)
        draws = rng.integers(0, max(n_groups, 1), size=(r, n_groups)) + (np.arange(r) * n_groups)[:, None]
        drawn = np.bincount(draws.ravel(), minlength=r * n_groups).reshape(r, n_groups)
        yield drawn[:, index].astype(np.float64)
        done += r


def _tie_groups(counts: np.ndarray, labels: np.ndarray, scores: np.ndarray,
                descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """(r, g) resampled weights of anomalous and of benign items per distinct score, ordered."""
    labels = np.asarray(labels, dtype=bool)
    values = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-values if descending else values, kind="mergesort")
    ranked = values[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    weights = counts[:, order]
    positive = labels[order]
    return (np.add.reduceat(weights * positive, starts, axis=1),
            np.add.reduceat(weights * ~positive, starts, axis=1))


def weighted_auroc(counts: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(r,) AUROC of each resample (rows of ``counts``); ties count half; NaN where a resample
    holds one class only."""
    if counts.shape[1] == 0:
        return np.full(len(counts), np.nan)
    pos, neg = _tie_groups(counts, labels, scores, descending=False)
    below = np.cumsum(neg, axis=1) - neg
    n_pos, n_neg = pos.sum(1), neg.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(1) / (n_pos * n_neg)


def _weighted_steps(counts: np.ndarray, labels: np.ndarray,
                    scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per resample: anomalies at each distinct score (highest first), cumulative true positives and
    flagged weights there, and the anomalies in all."""
    pos, neg = _tie_groups(counts, labels, scores, descending=True)
    true_positives = np.cumsum(pos, axis=1)
    return pos, true_positives, true_positives + np.cumsum(neg, axis=1), pos.sum(1)


def weighted_average_precision(counts: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(r,) average precision of each resample, as models.metrics.average_precision; NaN where a
    resample holds no anomaly."""
    if counts.shape[1] == 0:
        return np.full(len(counts), np.nan)
    pos, true_positives, flagged, n_pos = _weighted_steps(counts, labels, scores)
    precision = np.divide(true_positives, flagged, out=np.zeros_like(flagged), where=flagged > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * precision).sum(1) / n_pos


def weighted_best_f1(counts: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(r,) highest F1 over thresholds of each resample, as models.metrics.best_f1; NaN where a
    resample holds no anomaly."""
    if counts.shape[1] == 0:
        return np.full(len(counts), np.nan)
    _, true_positives, flagged, n_pos = _weighted_steps(counts, labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        best = (2 * true_positives / (flagged + n_pos[:, None])).max(1)
    return np.where(n_pos > 0, best, np.nan)


def weighted_f1(counts: np.ndarray, labels: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """(r,) F1 of each resample at fixed predictions ``flagged``; NaN where precision or recall is
    undefined."""
    labels, flagged = np.asarray(labels, dtype=bool), np.asarray(flagged, dtype=bool)
    tp, fp, fn = counts @ (labels & flagged), counts @ (~labels & flagged), counts @ (labels & ~flagged)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return np.where((tp + fp == 0) | (tp + fn == 0), np.nan, f1)


def weighted_ece(counts: np.ndarray, labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> np.ndarray:
    """(r,) expected calibration error of each resample over ``bins`` equal-width bins of [0, 1], as
    models.calibration.reliability computes it: Σ_bins |Σ score − Σ label| / items."""
    index = np.minimum((np.asarray(scores, np.float64) * bins).astype(np.int64), bins - 1)
    one_hot = np.eye(bins)[index]  # (n, bins)
    gap = counts @ (one_hot * (np.asarray(scores, np.float64) - np.asarray(labels, np.float64))[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(gap).sum(1) / counts.sum(1)


@dataclass(frozen=True)
class Interval:
    """A central ``CONFIDENCE`` interval; None bounds when undefined."""

    low: float | None
    high: float | None


def interval_of(values: np.ndarray) -> Interval:
    """The central interval of the defined (non-NaN) bootstrap values."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return Interval(None, None)
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(low), float(high))


def binomial_interval(successes: int, trials: int, scale: float = 1.0) -> Interval:
    """The exact (Clopper–Pearson) central interval of a proportion ``successes / trials``, times
    ``scale``; undefined without trials. With no success it still has a width: 0 of 60 gives
    [0, 6.0 %]."""
    if trials <= 0:
        return Interval(None, None)
    alpha = 1 - CONFIDENCE
    low = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return Interval(scale * low, scale * high)


def rate_intervals(labels: np.ndarray, flagged: np.ndarray) -> dict[str, Interval]:
    """Exact binomial intervals of accuracy, precision, TP% and FP% at fixed predictions."""
    labels, flagged = np.asarray(labels, dtype=bool), np.asarray(flagged, dtype=bool)
    tp, fp = int((labels & flagged).sum()), int((~labels & flagged).sum())
    tn, fn = int((~labels & ~flagged).sum()), int((labels & ~flagged).sum())
    counts = {"accuracy": (tp + tn, labels.size), "precision": (tp, tp + fp),
              "tp_pct": (tp, tp + fn), "fp_pct": (fp, fp + tn)}
    return {name: binomial_interval(*counts[name], scale) for name, scale in PROPORTIONS.items()}


Resampled = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
RANKINGS: dict[str, Resampled] = {"auroc": weighted_auroc, "ap": weighted_average_precision,
                                   "best_f1": weighted_best_f1}


def metric_intervals(labels: np.ndarray, scores: np.ndarray, threshold: float,
                     scans: np.ndarray | None = None, rounds: int = ROUNDS,
                     seed: int = 0) -> dict[str, Interval]:
    """95 % intervals keyed like BinaryMetrics' fields: exact binomial for the rates at ``threshold``
    (score ≥ threshold flags), a bootstrap over scans (``scans``: each item's scan; None: each item
    its own) for F1, AUROC, AP and best F1. Rounds where a figure is undefined (a resample with one
    class only) are left out of its interval."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.size == 0:
        return {}
    flagged = scores >= threshold
    rankable = not np.isnan(scores).any()  # as auroc(): NaN scores have no ranking
    parts: dict[str, list[np.ndarray]] = {name: [] for name in BOOTSTRAPPED}
    for counts in bootstrap_counts(scan_groups(scans, labels.size), rounds, seed):
        parts["f1"].append(weighted_f1(counts, labels, flagged))
        for name, resampled in RANKINGS.items():
            parts[name].append(resampled(counts, labels, scores) if rankable
                               else np.full(len(counts), np.nan))
    return {**rate_intervals(labels, flagged),
            **{name: interval_of(np.concatenate(chunks)) for name, chunks in parts.items()}}


def paired_difference(labels: np.ndarray, first: np.ndarray, second: np.ndarray,
                      scans: np.ndarray | None = None, rounds: int = 2000, seed: int = 1,
                      figure: Resampled = weighted_auroc) -> np.ndarray:
    """(rounds,) bootstrap of ``figure`` (AUROC by default) of ``first`` minus that of ``second``,
    both scoring the same items, each round resampling the same scans for both."""
    labels = np.asarray(labels, dtype=bool)
    out = []
    for counts in bootstrap_counts(scan_groups(scans, labels.size), rounds, seed=seed):
        out.append(figure(counts, labels, first) - figure(counts, labels, second))
    return np.concatenate(out) if out else np.zeros(0)


def format_estimate(figure: dict, digits: int) -> str:
    """``0.888 [0.800, 0.958]`` from an ``Estimate.as_dict()``; — where undefined."""
    if figure.get("value") is None:
        return "—"
    text = f"{figure['value']:.{digits}f}"
    if figure.get("low") is not None and figure.get("high") is not None:
        text += f" [{figure['low']:.{digits}f}, {figure['high']:.{digits}f}]"
    return text
