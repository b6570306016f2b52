"""Anomaly metrics (anomaly = positive): A, P, F1, TP%, FP%, AUROC, AP and best F1 at segment,
object, scan level."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import rankdata

LEVELS = ("segment", "object", "scan")
# binary_metrics' figures: the rates at a threshold, then the threshold-free ones
METRICS = ("accuracy", "precision", "f1", "tp_pct", "fp_pct", "auroc", "ap", "best_f1")


def _ratio(numerator: float, denominator: float, scale: float = 1.0) -> float | None:
    """numerator / denominator, or None when undefined (never NaN)."""
    return None if denominator == 0 else scale * numerator / denominator


@dataclass(frozen=True)
class BinaryMetrics:
    """Counts and rates of one level; undefined rates are None."""

    tp: int
    fp: int
    tn: int
    fn: int
    accuracy: float | None
    precision: float | None
    f1: float | None
    tp_pct: float | None  # 100·TP/(TP+FN): recall of anomalies
    fp_pct: float | None  # 100·FP/(FP+TN): false-alarm rate on benign
    auroc: float | None
    ap: float | None = None  # average precision: the area under the precision-recall steps
    best_f1: float | None = None  # F1 at the threshold that maximises it (an upper bound, not chosen on val)

    def as_dict(self, prefix: str = "") -> dict[str, float | int | None]:
        """Flat dict, keys optionally prefixed (e.g. 'object_f1')."""
        return {f"{prefix}{k}": v for k, v in asdict(self).items()}


def auroc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann–Whitney on average ranks: ties count half); None with one
    class only or when a score is NaN (a model that cannot score an item has no ranking)."""
    labels = np.asarray(labels, dtype=bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0 or np.isnan(scores).any():
        return None
    ranks = rankdata(scores, method="average")
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _precision_recall_steps(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative (true positives, flagged) at each distinct score, highest score first: the
    operating points of every threshold (tied scores are flagged together)."""
    order = np.argsort(-scores, kind="mergesort")
    ranked, positive = scores[order], labels[order]
    last_of_tie = np.r_[ranked[1:] != ranked[:-1], True]
    true_positives = np.cumsum(positive)[last_of_tie]
    flagged = (np.flatnonzero(last_of_tie) + 1).astype(np.float64)
    return true_positives.astype(np.float64), flagged


def _operating_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Cumulative true positives and flagged samples at every threshold, and the anomalies in all;
    None without an anomaly or with a NaN score (no ranking to step through)."""
    labels = np.asarray(labels, dtype=bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n_pos = int(labels.sum())
    if n_pos == 0 or np.isnan(scores).any():
        return None
    return (*_precision_recall_steps(labels, scores), n_pos)


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Average precision, Σ (R_n − R_{n−1}) P_n over the distinct thresholds (no interpolation, as
    scikit-learn and anomalib compute it); None without an anomaly or with a NaN score."""
    points = _operating_points(labels, scores)
    if points is None:
        return None
    true_positives, flagged, n_pos = points
    recall_gain = np.diff(np.r_[0.0, true_positives]) / n_pos
    return float(np.sum(recall_gain * true_positives / flagged))


def best_f1(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """The highest F1 over every threshold, 2·TP / (flagged + anomalies); None without an anomaly
    or with a NaN score. It is chosen on the samples it scores: a bound, not an operating point."""
    points = _operating_points(labels, scores)
    if points is None:
        return None
    true_positives, flagged, n_pos = points
    return float(np.max(2 * true_positives / (flagged + n_pos)))


def binary_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> BinaryMetrics:
    """Metrics of predicting anomaly where score >= threshold."""
    labels = np.asarray(labels, dtype=bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} differ in length")
    predicted = scores >= threshold
    tp = int((predicted & labels).sum())
    fp = int((predicted & ~labels).sum())
    tn = int((~predicted & ~labels).sum())
    fn = int((~predicted & labels).sum())
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = None
    if precision is not None and recall is not None:
        f1 = _ratio(2 * precision * recall, precision + recall) if precision + recall else 0.0
    return BinaryMetrics(
        tp=tp, fp=fp, tn=tn, fn=fn,
        accuracy=_ratio(tp + tn, labels.size),
        precision=precision,
        f1=f1,
        tp_pct=_ratio(tp, tp + fn, 100.0),
        fp_pct=_ratio(fp, fp + tn, 100.0),
        auroc=auroc(labels, scores),
        ap=average_precision(labels, scores),
        best_f1=best_f1(labels, scores),
    )


def threshold_for_fp_pct(labels: np.ndarray, scores: np.ndarray, max_fp_pct: float) -> float:
    """The lowest threshold whose FP% on these (validation) samples is at most ``max_fp_pct``.

    Only benign samples set it, so validation data without any anomaly gives a threshold that
    flags at most ``max_fp_pct`` % of them, never everything.
    """
    if not 0.0 <= max_fp_pct <= 100.0:
        raise ValueError(f"max_fp_pct must lie in [0, 100], got {max_fp_pct}")
    benign = np.sort(np.asarray(scores, dtype=np.float64)[~np.asarray(labels, dtype=bool)])[::-1]
    if benign.size == 0:
        raise ValueError("no benign samples: the FP% of a threshold cannot be measured")
    if np.isnan(benign).any():
        raise ValueError("NaN scores: no threshold can be chosen on them")
    allowed = int(np.floor(max_fp_pct / 100.0 * benign.size + 1e-9))
    if allowed >= benign.size:
        return float(benign[-1])
    # Just above the (allowed+1)-th highest benign score: at most `allowed` benign flagged. The step
    # is a float32 one, so scores stored as float32 compare the same against it in either precision.
    top = benign[allowed]
    threshold = np.nextafter(np.float32(top), np.float32(np.inf))
    while threshold <= top:  # a float64 score that float32 rounded down
        threshold = np.nextafter(threshold, np.float32(np.inf))
    return float(threshold)


def group_max(scores: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Max score per group id in [0, n_groups); groups with no member score 0."""
    out = np.zeros(n_groups, dtype=np.float64)
    groups = np.asarray(groups, dtype=np.int64)
    valid = (groups >= 0) & (groups < n_groups)
    np.maximum.at(out, groups[valid], np.asarray(scores, dtype=np.float64)[valid])
    return out


def level_metrics(
    segment_scores: np.ndarray,
    segment_labels: np.ndarray,
    segment_object: np.ndarray,
    object_labels: np.ndarray,
    object_scan: np.ndarray,
    threshold: float = 0.5,
) -> dict[str, BinaryMetrics]:
    """Metrics at the three levels.

    ``segment_object`` gives each segment's object index (−1: outside every object),
    ``object_scan`` each object's scan index. An object's score is the max over its segments, a
    scan's the max over its objects; scan labels are "any object anomalous".
    """
    object_labels = np.asarray(object_labels, dtype=bool)
    object_scan = np.asarray(object_scan, dtype=np.int64)
    object_scores = group_max(segment_scores, segment_object, object_labels.size)
    n_scans = int(object_scan.max()) + 1 if object_scan.size else 0
    scan_scores = group_max(object_scores, object_scan, n_scans)
    scan_labels = group_max(object_labels.astype(np.float64), object_scan, n_scans) > 0
    return {
        "segment": binary_metrics(segment_labels, segment_scores, threshold),
        "object": binary_metrics(object_labels, object_scores, threshold),
        "scan": binary_metrics(scan_labels, scan_scores, threshold),
    }
