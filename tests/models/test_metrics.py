"""Metrics against hand-computed values, including every undefined case."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from models.metrics import (
    auroc,
    average_precision,
    best_f1,
    binary_metrics,
    group_max,
    level_metrics,
    threshold_for_fp_pct,
)


def test_hand_computed_counts_and_rates():
    labels = [1, 1, 1, 0, 0, 0, 0, 1]
    scores = [0.9, 0.6, 0.2, 0.7, 0.1, 0.3, 0.5, 0.8]
    m = binary_metrics(labels, scores, threshold=0.5)
    # predicted: 1 1 0 1 0 0 1 1 -> TP 3 (0.9, 0.6, 0.8), FN 1, FP 2 (0.7, 0.5), TN 2
    assert (m.tp, m.fn, m.fp, m.tn) == (3, 1, 2, 2)
    assert m.accuracy == pytest.approx(5 / 8)
    assert m.precision == pytest.approx(3 / 5)
    assert m.tp_pct == pytest.approx(75.0) and m.fp_pct == pytest.approx(50.0)
    assert m.f1 == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    # AUROC: pairs (pos, neg) with pos > neg: 0.9>all 4, 0.6>0.1,0.3,0.5 (3), 0.2>0.1 (1), 0.8>4
    assert m.auroc == pytest.approx((4 + 3 + 1 + 4) / 16)


def test_undefined_ratios_are_none_never_nan():
    m = binary_metrics([0, 0, 0], [0.1, 0.2, 0.3])
    assert m.tp_pct is None and m.precision is None and m.f1 is None and m.auroc is None
    assert m.fp_pct == 0.0 and m.accuracy == 1.0
    empty = binary_metrics([], [])
    assert empty.accuracy is None and empty.fp_pct is None
    all_missed = binary_metrics([1, 1], [0.1, 0.2])
    assert all_missed.precision is None and all_missed.tp_pct == 0.0 and all_missed.f1 is None
    wrong = binary_metrics([1, 0], [0.1, 0.9])
    assert wrong.precision == 0.0 and wrong.f1 == 0.0


def test_auroc_counts_ties_as_half():
    assert auroc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    assert auroc([1, 1, 0, 0], [0.9, 0.4, 0.4, 0.1]) == pytest.approx((2 + 1.5) / 4)


def test_auroc_is_the_mann_whitney_statistic_with_many_ties():
    rng = np.random.default_rng(0)
    labels = rng.random(5000) < 0.3
    scores = np.round(rng.normal(labels * 0.5, 1.0), 1)  # many tie groups
    u = mannwhitneyu(scores[labels], scores[~labels]).statistic
    assert auroc(labels, scores) == pytest.approx(u / (labels.sum() * (~labels).sum()), rel=1e-12)


def test_average_precision_and_best_f1_by_hand():
    labels, scores = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    # thresholds from the top: 0.8 (P 1, R ½), 0.4 (P ½, R ½), 0.35 (P ⅔, R 1), 0.1 (P ½, R 1)
    assert average_precision(labels, scores) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert best_f1(labels, scores) == pytest.approx(0.8)  # at 0.35: TP 2, FP 1, FN 0
    m = binary_metrics(labels, scores)
    assert (m.ap, m.best_f1) == (average_precision(labels, scores), best_f1(labels, scores))
    assert average_precision([1, 0], [0.5, 0.5]) == pytest.approx(0.5)  # a tie is flagged together
    assert average_precision([0, 0], [0.1, 0.2]) is None and best_f1([0, 0], [0.1, 0.2]) is None
    assert average_precision([1, 1], [0.1, 0.2]) == 1.0 and average_precision([1, 0], [0.1, np.nan]) is None


def test_a_threshold_compares_alike_in_float32_and_float64():
    scores = np.array([0.0, 0.1, 0.7, 0.9], np.float32)
    labels = np.array([False, False, False, True])
    t = threshold_for_fp_pct(labels, scores, 0.0)
    assert (scores >= t).tolist() == (scores.astype(np.float64) >= t).tolist() == [False, False, False, True]
    zeros = np.zeros(4, np.float32)
    t = threshold_for_fp_pct(labels, zeros, 0.0)
    assert not (zeros >= t).any() and not (zeros.astype(np.float64) >= t).any()
    assert threshold_for_fp_pct(labels, np.array([0.1, 0.3, 0.30000001, 0.9]), 0.0) > 0.30000001


def test_threshold_for_fp_target():
    labels = np.array([0] * 10 + [1] * 3)
    scores = np.r_[np.linspace(0.0, 0.9, 10), [0.95, 0.5, 0.05]]
    t = threshold_for_fp_pct(labels, scores, 10.0)
    assert binary_metrics(labels, scores, t).fp_pct == pytest.approx(10.0)
    t0 = threshold_for_fp_pct(labels, scores, 0.0)
    assert binary_metrics(labels, scores, t0).fp_pct == 0.0 and t0 > 0.9


def test_validation_without_anomalies_does_not_flag_everything():
    benign_only = np.zeros(50, dtype=bool)
    scores = np.random.default_rng(0).random(50)
    t = threshold_for_fp_pct(benign_only, scores, 5.0)
    flagged = (scores >= t).mean()
    assert flagged <= 0.05
    with pytest.raises(ValueError, match="no benign samples"):
        threshold_for_fp_pct(np.ones(3, bool), [0.1, 0.2, 0.3], 5.0)


def test_three_levels_aggregate_by_max():
    # two scans; scan 0 has objects 0 (benign), 1 (anomalous); scan 1 has object 2 (benign)
    segment_scores = np.array([0.1, 0.2, 0.9, 0.3, 0.6, 0.05])
    segment_labels = np.array([0, 0, 1, 0, 0, 0])
    segment_object = np.array([0, 0, 1, 1, 2, -1])  # last segment lies on background
    m = level_metrics(segment_scores, segment_labels, segment_object,
                      object_labels=[False, True, False], object_scan=[0, 0, 1])
    assert (m["segment"].tp, m["segment"].fp) == (1, 1)
    assert (m["object"].tp, m["object"].fp, m["object"].tn) == (1, 1, 1)
    assert (m["scan"].tp, m["scan"].fp) == (1, 1)
    np.testing.assert_array_equal(group_max([0.3, 0.7], [1, 1], 3), [0.0, 0.7, 0.0])
