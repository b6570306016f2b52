"""Bootstrap intervals over items: AUROC and threshold rates of resampled item sets, vectorised."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

ROUNDS = 1000
CONFIDENCE = 0.95
_CHUNK_CELLS = 4_000_000  # rounds × items per chunk of count matrices (32 MB of float64)


def bootstrap_counts(n: int, rounds: int = ROUNDS, seed: int = 0) -> Iterator[np.ndarray]:
    """Chunks of (r, n) float64 matrices: how often each of ``n`` items is drawn in each round of
    resampling with replacement; ``rounds`` rows over all chunks. The same seed gives the same
    rounds, so two score sets of the same items get paired resamples."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    done = 0
    while done < rounds:
        r = min(chunk, rounds - done)
        draws = rng.integers(0, n, size=(r, n)) + (np.arange(r) * n)[:, None]
        yield np.bincount(draws.ravel(), minlength=r * n).reshape(r, n).astype(np.float64)
        done += r


def weighted_auroc(counts: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(r,) AUROC of each resample (rows of ``counts``); ties count half; NaN where a resample
    holds one class only."""
    labels = np.asarray(labels, dtype=bool)
    order = np.argsort(np.asarray(scores, dtype=np.float64), kind="mergesort")
    ranked = np.asarray(scores, dtype=np.float64)[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # tie groups
    weights = counts[:, order]
    positive = labels[order]
    pos = np.add.reduceat(weights * positive, starts, axis=1)
    neg = np.add.reduceat(weights * ~positive, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    n_pos, n_neg = pos.sum(1), neg.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(1) / (n_pos * n_neg)


def weighted_rates(counts: np.ndarray, labels: np.ndarray, flagged: np.ndarray) -> dict[str, np.ndarray]:
    """(r,) accuracy, precision, f1, tp_pct, fp_pct of each resample at fixed predictions ``flagged``;
    NaN where undefined."""
    labels, flagged = np.asarray(labels, dtype=bool), np.asarray(flagged, dtype=bool)
    tp, fp = counts @ (labels & flagged), counts @ (~labels & flagged)
    tn, fn = counts @ (~labels & ~flagged), counts @ (labels & ~flagged)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        f1 = np.where(np.isnan(precision) | np.isnan(recall), np.nan, f1)
        return {"accuracy": (tp + tn) / (tp + fp + tn + fn), "precision": precision, "f1": f1,
                "tp_pct": 100 * recall, "fp_pct": 100 * fp / (fp + tn)}


@dataclass(frozen=True)
class Interval:
    """A central ``CONFIDENCE`` interval of a bootstrap distribution; None bounds when undefined."""

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


def metric_intervals(labels: np.ndarray, scores: np.ndarray, threshold: float, rounds: int = ROUNDS,
                     seed: int = 0) -> dict[str, Interval]:
    """Bootstrap intervals over items of auroc and of the rates at ``threshold`` (score ≥ threshold
    flags), keyed like BinaryMetrics' fields. Rounds where a figure is undefined (a resample with one
    class only) are left out of its interval."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.size == 0:
        return {}
    flagged = scores >= threshold
    rankable = not np.isnan(scores).any()  # as auroc(): NaN scores have no ranking
    parts: dict[str, list[np.ndarray]] = {}
    for counts in bootstrap_counts(labels.size, rounds, seed):
        ranked = weighted_auroc(counts, labels, scores) if rankable else np.full(len(counts), np.nan)
        values = {"auroc": ranked, **weighted_rates(counts, labels, flagged)}
        for name, v in values.items():
            parts.setdefault(name, []).append(v)
    return {name: interval_of(np.concatenate(chunks)) for name, chunks in parts.items()}


def format_estimate(figure: dict, digits: int) -> str:
    """``0.888 [0.800, 0.958]`` from an ``Estimate.as_dict()``; — where undefined."""
    if figure.get("value") is None:
        return "—"
    text = f"{figure['value']:.{digits}f}"
    if figure.get("low") is not None and figure.get("high") is not None:
        text += f" [{figure['low']:.{digits}f}, {figure['high']:.{digits}f}]"
    return text
