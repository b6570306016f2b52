"""Intervals that hold where the project reports: exact binomial rates (no collapse at FP 0 %), a
bootstrap that resamples scans with all their items, the resampled figures equal to the plain ones,
and paired differences over the same scans."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from models.calibration import reliability
from models.intervals import (
    binomial_interval,
    bootstrap_counts,
    metric_intervals,
    paired_difference,
    weighted_auroc,
    weighted_average_precision,
    weighted_best_f1,
    weighted_ece,
    weighted_f1,
)
from models.metrics import auroc, average_precision, best_f1, binary_metrics


def _items(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.4
    return labels, np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1)


def test_no_benign_item_flagged_still_has_a_false_alarm_interval():
    # the measured defect: 0 of 60 benign flagged gave [0, 0] from an item bootstrap
    labels = np.r_[np.zeros(60, bool), np.ones(20, bool)]
    scores = np.r_[np.full(60, 0.1), np.full(20, 0.9)]
    fp = metric_intervals(labels, scores, threshold=0.5)["fp_pct"]
    assert fp.low == 0.0 and fp.high == pytest.approx(5.96, abs=0.01)  # exact: 1 − 0.025^(1/60)
    tp = metric_intervals(labels, scores, threshold=0.5)["tp_pct"]
    assert tp.high == 100.0 and tp.low == pytest.approx(83.16, abs=0.01)


@pytest.mark.parametrize(("k", "n"), [(0, 60), (3, 60), (17, 40), (40, 40), (1, 1)])
def test_binomial_interval_is_clopper_pearson(k, n):
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    got = binomial_interval(k, n, scale=100.0)
    assert got.low == pytest.approx(100 * expected.low, abs=1e-9)
    assert got.high == pytest.approx(100 * expected.high, abs=1e-9)
    assert binomial_interval(0, 0).low is None


def test_the_bootstrap_resamples_scans_with_all_their_items():
    labels, scores = _items(60, seed=0)
    one_item_a_scan = metric_intervals(labels, scores, 0.5, scans=np.arange(60))
    # each scan holds four copies of its item: they share the scan, so they carry no more evidence
    copies = np.repeat(np.arange(60), 4)
    clustered = metric_intervals(labels[copies], scores[copies], 0.5, scans=copies)
    as_if_independent = metric_intervals(labels[copies], scores[copies], 0.5)
    for figure in ("auroc", "ap", "best_f1", "f1"):
        assert clustered[figure] == one_item_a_scan[figure], figure
        width = clustered[figure].high - clustered[figure].low
        assert as_if_independent[figure].high - as_if_independent[figure].low < 0.7 * width, figure


def test_every_draw_takes_a_scan_whole():
    scans = np.array([0, 0, 0, 1, 2, 2, 3, 3, 3, 3])
    for counts in bootstrap_counts(scans, rounds=200, seed=3):
        for scan in range(4):
            mine = counts[:, scans == scan]
            assert np.all(mine == mine[:, :1])  # a scan's items are drawn together, as often as it
        assert np.all(counts[:, [0, 3, 4, 6]].sum(1) == 4)  # four scans drawn a round
    rounds = np.concatenate(list(bootstrap_counts(10, rounds=50, seed=3)))
    assert rounds.shape == (50, 10) and np.all(rounds.sum(1) == 10)  # an item count: items alone


@pytest.mark.parametrize("ties", [False, True])
def test_resampled_figures_equal_the_plain_ones_at_unit_weights(ties):
    labels, scores = _items(300, seed=1)
    if ties:
        scores = np.round(scores, 1)
    ones = np.ones((1, labels.size))
    assert weighted_auroc(ones, labels, scores)[0] == pytest.approx(auroc(labels, scores))
    plain_ap = average_precision(labels, scores)
    assert weighted_average_precision(ones, labels, scores)[0] == pytest.approx(plain_ap)
    assert weighted_best_f1(ones, labels, scores)[0] == pytest.approx(best_f1(labels, scores))
    assert weighted_f1(ones, labels, scores >= 0.5)[0] == pytest.approx(binary_metrics(labels, scores).f1)
    assert weighted_ece(ones, labels, scores)[0] == pytest.approx(reliability(scores, labels)["ece"])
    twice = np.full((1, labels.size), 2.0)  # every item drawn twice: the same figures
    assert weighted_average_precision(twice, labels, scores)[0] == pytest.approx(plain_ap)


def test_a_paired_difference_resamples_the_same_scans_for_both():
    labels, scores = _items(120, seed=2)
    scans = np.arange(120) // 3
    assert np.all(paired_difference(labels, scores, scores, scans, rounds=200) == 0)
    noisy = scores + np.random.default_rng(0).normal(0, 0.3, scores.size)
    diffs = paired_difference(labels, scores, noisy, scans, rounds=400)
    assert diffs.shape == (400,) and np.nanmean(diffs) > 0
    assert np.nanmean(diffs) == pytest.approx(auroc(labels, scores) - auroc(labels, noisy), abs=0.02)
