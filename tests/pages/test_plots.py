"""Study plots: the ROC points behind the ROC figure agree with the AUROC the tables report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.metrics import auroc
from pages.plots import kind_bars, roc_curves, roc_points
from tests.pictures import drawn_png


def test_roc_points_integrate_to_the_auroc_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.random(300) < 0.4
    scores = np.round(rng.random(300) * 0.6 + 0.4 * labels, 2)  # ties on purpose
    fpr, tpr = roc_points(labels, scores)
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auroc(labels, scores), abs=1e-9)


def test_roc_and_kind_figures_are_pngs():
    labels = np.array([0, 0, 1, 1, 0, 1], bool)
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    drawn_png(roc_curves([("a", labels, scores, 0.5)], "object"), min_side=200)
    kinds = pd.DataFrame({"pipeline": ["subcomponent"] * 2, "kind": ["blade", "wire_bundle"],
                          "TP%": [80.0, 40.0], "TP%_lo": [60.0, 20.0], "TP%_hi": [95.0, None]})
    drawn_png(kind_bars(kinds), min_side=200)
