"""Item scores as probabilities: a monotone map fitted on val (temperature, Platt or isotonic,
chosen by cross-validated log loss), its expected calibration error and reliability bins."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy.optimize import isotonic_regression, minimize
from scipy.special import expit

METHODS = ("temperature", "platt", "isotonic")
FOLDS = 5
MIN_ITEMS = 20  # fewer val items, or one class only: no calibration is fitted
BINS = 10
EPS = 1e-12  # probabilities are clipped to [EPS, 1 − EPS] for logits and log loss
STRICT_SLOPE = 1e-4  # isotonic maps are blended with the identity this much: strictly increasing
PLATT_SLOPES = (1e-3, 1e3)  # a Platt slope stays positive (the map increasing) and finite


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return expit(x)  # 1 / (1 + e^−x), stable in both tails


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
    logit by T; ``platt`` maps the logit to slope · logit + intercept (it can shift scores, which a
    temperature cannot); ``isotonic`` interpolates the pool-adjacent-violators fit between its knots
    (raw score ``xs`` → probability ``ys``, held at the ends), blended with the identity by
    STRICT_SLOPE."""

    method: str
    temperature: float = 1.0
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    fitted_on: dict = field(default_factory=dict)  # what chose it: split, items, each method's CV log loss
    slope: float = 1.0  # platt
    intercept: float = 0.0  # platt

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """float64 calibrated probabilities of raw scores in [0, 1], order kept strictly (in float32
        an isotonic map's near-flat stretches would tie neighbours, and a threshold between two
        raw scores could no longer part them)."""
        raw = np.asarray(scores, np.float64)
        if self.method == "temperature":
            out = _sigmoid(_logit(raw) / self.temperature)
        elif self.method == "platt":
            out = _sigmoid(self.slope * _logit(raw) + self.intercept)
        elif self.method == "isotonic":
            out = (1 - STRICT_SLOPE) * np.interp(raw, self.xs, self.ys) + STRICT_SLOPE * raw
        else:
            raise ValueError(f"unknown calibration method {self.method!r}; known: {', '.join(METHODS)}")
        return out

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
                              [float(y) for y in content.get("ys", [])], dict(content.get("fitted_on", {})),
                              float(content.get("slope", 1.0)), float(content.get("intercept", 0.0)))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"calibration: not a score calibration ({type(err).__name__}: {err})") from None
        if calibration.method not in METHODS:
            raise ValueError(f"calibration.method: {calibration.method!r}; known: {', '.join(METHODS)}")
        if calibration.method == "temperature" and not calibration.temperature > 0:
            raise ValueError(f"calibration.temperature: must be above 0, got {calibration.temperature}")
        platt_ok = calibration.slope > 0 and np.isfinite(calibration.intercept)
        if calibration.method == "platt" and not platt_ok:
            raise ValueError(f"calibration.slope/intercept: a Platt map needs a slope above 0 and a finite "
                             f"intercept, got {calibration.slope}, {calibration.intercept}")
        xs, ys = calibration.xs, calibration.ys
        if calibration.method == "isotonic" and (len(xs) != len(ys) or not xs or np.any(np.diff(xs) <= 0)):
            raise ValueError("calibration.xs/ys: an isotonic map needs as many increasing xs as ys")
        return calibration


def fit_temperature(scores: np.ndarray, labels: np.ndarray) -> ScoreCalibration:
    """The temperature minimising the log loss (a 1-D search over log T)."""
    logits, y = _logit(scores), np.asarray(labels, bool)

    def loss(log_t: float) -> float:
        return log_loss(_sigmoid(logits / np.exp(log_t)), y)

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


def fit_platt(scores: np.ndarray, labels: np.ndarray) -> ScoreCalibration:
    """Slope and intercept on the logit minimising the log loss (logistic regression on the logit,
    the slope held positive so the map stays increasing)."""
    logits, y = _logit(scores), np.asarray(labels, np.float64)

    def loss_and_gradient(params: np.ndarray) -> tuple[float, np.ndarray]:
        z = params[0] * logits + params[1]
        # −log σ(z) = log(1 + e^−z), −log(1 − σ(z)) = log(1 + e^z): exact, so the gradient is its own
        loss = np.mean(np.where(y > 0, np.logaddexp(0.0, -z), np.logaddexp(0.0, z)))
        residual = (_sigmoid(z) - y) / len(y)
        return float(loss), np.array([np.sum(residual * logits), np.sum(residual)])

    fitted = minimize(loss_and_gradient, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B",
                      bounds=[PLATT_SLOPES, (None, None)])
    return ScoreCalibration("platt", slope=float(fitted.x[0]), intercept=float(fitted.x[1]))


def fit_isotonic(scores: np.ndarray, labels: np.ndarray) -> ScoreCalibration:
    """Pool adjacent violators over the distinct scores (each weighted by its items, tied items
    merged first, so the map is a function of the score alone, whatever the items' order); each
    pooled block a knot at its items' mean score with its positive fraction."""
    distinct, index, weights = np.unique(np.asarray(scores, np.float64), return_inverse=True,
                                         return_counts=True)
    positives = np.bincount(index.ravel(), np.asarray(labels, np.float64), minlength=distinct.size)
    fit = isotonic_regression(positives / weights, weights=weights.astype(np.float64), increasing=True)
    starts = np.asarray(fit.blocks[:-1])
    block_weights = np.add.reduceat(weights.astype(np.float64), starts)
    knots_x = np.add.reduceat(distinct * weights, starts) / block_weights
    knots_y = np.asarray(fit.x)[starts]
    keep = np.r_[True, np.diff(knots_x) > 0]  # means that rounding made equal: keep the first
    return ScoreCalibration("isotonic", xs=knots_x[keep].tolist(), ys=knots_y[keep].tolist())


FITTERS = {"temperature": fit_temperature, "platt": fit_platt, "isotonic": fit_isotonic}


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
    return replace(chosen, fitted_on={"split": split, "items": len(scores), "anomalous": int(labels.sum()),
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
    how = {"temperature": f"temperature T = {content.get('temperature', 1.0):.3f}",
           "platt": (f"Platt, slope {content.get('slope', 1.0):.3f}, "
                     f"intercept {content.get('intercept', 0.0):+.3f}"),
           }.get(content.get("method"), f"isotonic, {len(content.get('xs', []))} knots")
    losses = ", ".join(f"{k} {v:.3f}" for k, v in (fitted.get("cv_log_loss") or {}).items())
    split, items, anomalous = (fitted.get(k, "?") for k in ("split", "items", "anomalous"))
    where = f"{split} ({items} items, {anomalous} anomalous)"
    return f"probabilities, {how}, fitted on {where}; chosen by {FOLDS}-fold log loss ({losses})"
