"""Item scores as probabilities: a monotone map fitted on val (temperature or isotonic, chosen by
cross-validated log loss), its expected calibration error and reliability bins."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

METHODS = ("temperature", "isotonic")
FOLDS = 5
MIN_ITEMS = 20  # fewer val items, or one class only: no calibration is fitted
BINS = 10
EPS = 1e-12  # probabilities are clipped to [EPS, 1 − EPS] for logits and log loss
STRICT_SLOPE = 1e-4  # isotonic maps are blended with the identity this much: strictly increasing


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of binary ``labels`` under ``probs``."""
    p = np.clip(np.asarray(probs, np.float64), EPS, 1 - EPS)
    y = np.asarray(labels, bool)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


@dataclass(frozen=True)
class ScoreCalibration:
    """A strictly increasing map of raw item scores to probabilities: ``temperature`` divides the
    logit by T; ``isotonic`` interpolates the pool-adjacent-violators fit between its knots (raw
    score ``xs`` → probability ``ys``, held at the ends), blended with the identity by STRICT_SLOPE."""

    method: str
    temperature: float = 1.0
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    fitted_on: dict = field(default_factory=dict)  # what chose it: split, items, each method's CV log loss

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """float32 calibrated probabilities of raw scores in [0, 1] (order kept strictly)."""
        raw = np.asarray(scores, np.float64)
        if self.method == "temperature":
            out = 1.0 / (1.0 + np.exp(-_logit(raw) / self.temperature))
        elif self.method == "isotonic":
            out = (1 - STRICT_SLOPE) * np.interp(raw, self.xs, self.ys) + STRICT_SLOPE * raw
        else:
            raise ValueError(f"unknown calibration method {self.method!r}; known: {', '.join(METHODS)}")
        return out.astype(np.float32)

    def invert(self, probability: float) -> float:
        """The raw score this map takes to ``probability`` (bisection: the map is increasing)."""
        low, high = 0.0, 1.0
        for _ in range(60):
            middle = (low + high) / 2
            if float(self.apply(np.array([middle]))[0]) < probability:
                low = middle
            else:
                high = middle
        return high

    def as_dict(self) -> dict:
        """What metrics.json keeps under ``calibration``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, content: dict) -> ScoreCalibration:
        """A calibration metrics.json kept; ValueError naming what is wrong."""
        try:
            calibration = cls(str(content["method"]), float(content.get("temperature", 1.0)),
                              [float(x) for x in content.get("xs", [])],
                              [float(y) for y in content.get("ys", [])], dict(content.get("fitted_on", {})))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"calibration: not a score calibration ({type(err).__name__}: {err})") from None
        if calibration.method not in METHODS:
            raise ValueError(f"calibration.method: {calibration.method!r}; known: {', '.join(METHODS)}")
        if calibration.method == "temperature" and not calibration.temperature > 0:
            raise ValueError(f"calibration.temperature: must be above 0, got {calibration.temperature}")
        xs, ys = calibration.xs, calibration.ys
        if calibration.method == "isotonic" and (len(xs) != len(ys) or not xs or np.any(np.diff(xs) <= 0)):
            raise ValueError("calibration.xs/ys: an isotonic map needs as many increasing xs as ys")
        return calibration


def fit_temperature(scores: np.ndarray, labels: np.ndarray) -> ScoreCalibration:
    """The temperature minimising the log loss (a 1-D search over log T)."""
    logits, y = _logit(scores), np.asarray(labels, bool)

    def loss(log_t: float) -> float:
        return log_loss(1.0 / (1.0 + np.exp(-logits / np.exp(log_t))), y)

    low, high = np.log(0.05), np.log(50.0)
    grid = np.linspace(low, high, 81)
    best = grid[int(np.argmin([loss(v) for v in grid]))]
    step = grid[1] - grid[0]
    a, b = best - step, best + step  # golden-section refinement around the best grid point
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if loss(c) < loss(d):
            b = d
        else:
            a = c
    return ScoreCalibration("temperature", temperature=float(np.exp((a + b) / 2)))


def fit_isotonic(scores: np.ndarray, labels: np.ndarray) -> ScoreCalibration:
    """Pool adjacent violators on the scores sorted ascending; each pooled block a knot at its
    mean score with its positive fraction."""
    order = np.argsort(scores, kind="stable")
    x, y = np.asarray(scores, np.float64)[order], np.asarray(labels, np.float64)[order]
    sums, counts, xsum = [], [], []
    for xi, yi in zip(x, y, strict=True):
        sums.append(yi), counts.append(1.0), xsum.append(xi)
        while len(sums) > 1 and sums[-2] / counts[-2] >= sums[-1] / counts[-1]:
            s, c, xs_ = sums.pop(), counts.pop(), xsum.pop()
            sums[-1] += s
            counts[-1] += c
            xsum[-1] += xs_
    knots_x = np.array(xsum) / np.array(counts)
    knots_y = np.array(sums) / np.array(counts)
    keep = np.concatenate([[True], np.diff(knots_x) > 0])  # equal mean scores: keep the first
    return ScoreCalibration("isotonic", xs=knots_x[keep].tolist(), ys=knots_y[keep].tolist())


FITTERS = {"temperature": fit_temperature, "isotonic": fit_isotonic}


def choose_calibration(scores: np.ndarray, labels: np.ndarray, split: str = "val",
                       seed: int = 0) -> ScoreCalibration | None:
    """The method with the lowest log loss over ``FOLDS``-fold cross-validation on these items (each
    fold scored by a map fitted on the others), refitted on all of them; None when there are fewer
    than MIN_ITEMS or one class only (the scores stay raw)."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, bool)
    if len(scores) < MIN_ITEMS or labels.all() or not labels.any():
        return None
    folds = np.random.default_rng(seed).permutation(len(scores)) % FOLDS
    losses = {"none": log_loss(scores, labels)}
    for method, fit in FITTERS.items():
        held = np.empty(len(scores))
        for fold in range(FOLDS):
            inside = folds != fold
            if labels[inside].all() or not labels[inside].any():
                held[~inside] = scores[~inside]
                continue
            held[~inside] = fit(scores[inside], labels[inside]).apply(scores[~inside])
        losses[method] = log_loss(held, labels)
    method = min(METHODS, key=losses.get)
    chosen = FITTERS[method](scores, labels)
    return ScoreCalibration(chosen.method, chosen.temperature, chosen.xs, chosen.ys,
                            {"split": split, "items": len(scores), "anomalous": int(labels.sum()),
                             "cv_log_loss": {k: round(v, 5) for k, v in losses.items()}})


def reliability(scores: np.ndarray, labels: np.ndarray, bins: int = BINS) -> dict:
    """Equal-width bins over [0, 1]: each bin's item count, mean score and anomalous fraction
    (None where empty), and the expected calibration error (their count-weighted |gap|)."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, bool)
    index = np.minimum((scores * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    mean = np.bincount(index, scores, minlength=bins)
    positive = np.bincount(index, labels.astype(float), minlength=bins)
    filled = counts > 0
    gap = np.abs(mean[filled] / counts[filled] - positive[filled] / counts[filled])
    ece = float(np.sum(counts[filled] * gap) / len(scores)) if len(scores) else None
    return {"bins": bins, "count": counts.tolist(),
            "mean_score": [float(m / c) if c else None for m, c in zip(mean, counts, strict=True)],
            "anomalous_fraction": [float(p / c) if c else None
                                   for p, c in zip(positive, counts, strict=True)],
            "ece": ece}


def describe_calibration(content: dict | None) -> str:
    """One line on how a model's item scores read: raw, or the map val chose and why."""
    if not content:
        return "raw classifier scores (no calibration fitted)"
    fitted = content.get("fitted_on") or {}
    how = (f"temperature T = {content.get('temperature', 1.0):.3f}" if content.get("method") == "temperature"
           else f"isotonic, {len(content.get('xs', []))} knots")
    losses = ", ".join(f"{k} {v:.3f}" for k, v in (fitted.get("cv_log_loss") or {}).items())
    split, items, anomalous = (fitted.get(k, "?") for k in ("split", "items", "anomalous"))
    where = f"{split} ({items} items, {anomalous} anomalous)"
    return f"probabilities, {how}, fitted on {where}; chosen by {FOLDS}-fold log loss ({losses})"
