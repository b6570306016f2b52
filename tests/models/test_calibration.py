"""Item-score calibration: temperature, Platt and isotonic maps fitted as they should be, chosen by
cross-validated log loss, order kept, ties mapped alike, and the reliability bins' expected
calibration error."""

from __future__ import annotations

import numpy as np
import pytest

from models.calibration import (
    MIN_ITEMS,
    ScoreCalibration,
    choose_calibration,
    fit_isotonic,
    fit_platt,
    fit_temperature,
    log_loss,
    reliability,
)


def _overconfident(n: int, sharpen: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from p = σ(z) and scores σ(sharpen · z): a classifier too sure of itself."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    labels = rng.random(n) < 1 / (1 + np.exp(-z))
    return 1 / (1 + np.exp(-sharpen * z)), labels


def test_temperature_undoes_an_overconfident_classifier():
    scores, labels = _overconfident(20_000, 3.0)
    calibration = fit_temperature(scores, labels)
    assert calibration.temperature == pytest.approx(3.0, rel=0.08)
    assert reliability(calibration.apply(scores), labels)["ece"] < 0.02 < reliability(scores, labels)["ece"]


def test_isotonic_fits_a_monotone_map_and_keeps_every_order():
    scores, labels = _overconfident(3000, 0.3, seed=1)  # underconfident: scores huddle around 0.5
    calibration = fit_isotonic(scores, labels)
    assert np.all(np.diff(calibration.xs) > 0) and np.all(np.diff(calibration.ys) >= 0)
    ordered = np.sort(scores)
    assert np.all(np.diff(calibration.apply(ordered).astype(np.float64)) >= 0)
    assert reliability(calibration.apply(scores), labels)["ece"] < reliability(scores, labels)["ece"] / 3
    raw_order = np.argsort(scores, kind="stable")
    np.testing.assert_array_equal(np.argsort(calibration.apply(scores), kind="stable"), raw_order)


def test_cross_validation_chooses_and_refuses_what_it_cannot_fit():
    scores, labels = _overconfident(4000, 3.0, seed=2)
    chosen = choose_calibration(scores, labels)
    losses = chosen.fitted_on["cv_log_loss"]
    assert set(losses) == {"none", "temperature", "platt", "isotonic"}
    assert chosen.method == min(("temperature", "platt", "isotonic"), key=losses.get)
    assert losses[chosen.method] < losses["none"]
    assert chosen.fitted_on["items"] == 4000 and chosen.fitted_on["anomalous"] == int(labels.sum())
    assert log_loss(chosen.apply(scores), labels) < log_loss(scores, labels)
    assert choose_calibration(scores[:MIN_ITEMS - 1], labels[:MIN_ITEMS - 1]) is None  # too few items
    assert choose_calibration(scores, np.ones_like(labels)) is None  # one class only


def test_a_calibration_round_trips_inverts_and_refuses_a_broken_record():
    scores, labels = _overconfident(2000, 2.0, seed=3)
    for fitted in (fit_temperature(scores, labels), fit_platt(scores, labels), fit_isotonic(scores, labels)):
        again = ScoreCalibration.from_dict(fitted.as_dict())
        np.testing.assert_array_equal(again.apply(scores), fitted.apply(scores))
        threshold = float(fitted.apply(np.array([0.7]))[0])
        assert fitted.invert(threshold) == pytest.approx(0.7, abs=1e-6)
    with pytest.raises(ValueError, match=r"calibration\.method: 'beta'"):
        ScoreCalibration.from_dict({"method": "beta"})
    with pytest.raises(ValueError, match=r"calibration\.slope/intercept"):
        ScoreCalibration.from_dict({"method": "platt", "slope": -1.0})
    old = {"method": "temperature", "temperature": 2.0, "xs": [], "ys": [], "fitted_on": {}}  # before Platt
    assert ScoreCalibration.from_dict(old).temperature == 2.0
    with pytest.raises(ValueError, match=r"calibration\.temperature: must be above 0"):
        ScoreCalibration.from_dict({"method": "temperature", "temperature": 0})
    with pytest.raises(ValueError, match="as many increasing xs as ys"):
        ScoreCalibration.from_dict({"method": "isotonic", "xs": [0.2, 0.1], "ys": [0.1, 0.3]})


def test_reliability_bins_count_every_item_and_a_calibrated_sample_has_a_small_ece():
    rng = np.random.default_rng(4)
    scores = rng.random(50_000)
    labels = rng.random(50_000) < scores
    bins = reliability(scores, labels)
    assert sum(bins["count"]) == 50_000 and bins["ece"] < 0.01
    assert reliability(np.full(100, 0.9), np.zeros(100, bool))["ece"] == pytest.approx(0.9)


def test_isotonic_maps_tied_scores_alike_whatever_the_order():
    # the measured defect: (0.5, 1, 1) with labels (1, 1, 0) mapped 1.0 to 0.667, with (1, 0, 1) to 1.0
    scores = np.array([0.5, 1.0, 1.0])
    first = fit_isotonic(scores, np.array([True, True, False])).apply(np.array([1.0]))
    second = fit_isotonic(scores, np.array([True, False, True])).apply(np.array([1.0]))
    assert first == second == pytest.approx(2 / 3, abs=1e-3)  # {0.5: 1 of 1, 1.0: 1 of 2} pool to 2 of 3
    rng = np.random.default_rng(7)
    scores = np.round(rng.random(500), 1)  # saturated scores tie often
    labels = rng.random(500) < scores
    fitted = fit_isotonic(scores, labels)
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(500)
        again = fit_isotonic(scores[order], labels[order])
        assert again.xs == fitted.xs and again.ys == fitted.ys


def test_platt_shifts_scores_that_a_temperature_cannot():
    rng = np.random.default_rng(5)
    z = rng.normal(0, 1.5, 20_000)
    labels = rng.random(20_000) < 1 / (1 + np.exp(-z))
    scores = 1 / (1 + np.exp(-(z + 2.0)))  # every score too high by the same logit: a shift
    platt, temperature = fit_platt(scores, labels), fit_temperature(scores, labels)
    assert platt.slope == pytest.approx(1.0, abs=0.05) and platt.intercept == pytest.approx(-2.0, abs=0.1)
    assert log_loss(platt.apply(scores), labels) < log_loss(temperature.apply(scores), labels) - 0.01
    assert choose_calibration(scores, labels).method in ("platt", "isotonic")
