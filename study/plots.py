"""Study plots: TP% and FP% per backbone × modality, objective against K and λ, learning curves."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def png_of(figure: Figure) -> bytes:
    """PNG bytes of a figure (no pyplot: no global state, no display backend)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def tp_fp_bars(table: pd.DataFrame, pipeline: str, level: str) -> bytes:
    """Grouped bars: TP% and FP% of each modality × backbone of one pipeline."""
    part = table[table["pipeline"] == pipeline]
    labels = [f"{m}\n{b}" for m, b in zip(part["modality"], part["backbone"], strict=True)]
    x = np.arange(len(part))
    figure = Figure(figsize=(max(4.0, 0.9 * len(part) + 2), 3.6))
    axis = figure.subplots()
    tp = pd.to_numeric(part["TP%"], errors="coerce").fillna(0).to_numpy()
    fp = pd.to_numeric(part["FP%"], errors="coerce").fillna(0).to_numpy()
    axis.bar(x - 0.2, tp, 0.4, label="TP%", color="#3a7d44")
    axis.bar(x + 0.2, fp, 0.4, label="FP%", color="#c0392b")
    axis.set_xticks(x, labels, fontsize=7)
    axis.set_ylim(0, 100)
    axis.set_ylabel("%")
    axis.set_title(f"{pipeline}: {level}-level TP% and FP%")
    axis.legend(fontsize=8)
    return png_of(figure)


def objective_vs_k_lambda(frame: pd.DataFrame, objective: str) -> bytes:
    """The SSN trials' objective against K and against λ (log scale)."""
    ssn = frame[frame["pipeline"] == "ssn"]
    figure = Figure(figsize=(8, 3.4))
    left, right = figure.subplots(1, 2, sharey=True)
    left.scatter(ssn["k"], ssn["objective"], s=18)
    left.set_xlabel("K (superpixels)")
    left.set_ylabel(objective)
    right.scatter(ssn["lam"], ssn["objective"], s=18, color="#8e44ad")
    right.set_xscale("log")
    right.set_xlabel("λ (compactness)")
    figure.suptitle("SSN trials")
    return png_of(figure)


def learning_curves(trials: list, metric: str) -> bytes:
    """Each trial's val objective per epoch (solid: what chose) and the same metric on test
    (dashed: for the record), one colour per trial."""
    figure = Figure(figsize=(7, 3.6))
    axis = figure.subplots()
    for trial in trials:
        epochs = [e["epoch"] for e in trial.epochs]
        line, = axis.plot(epochs, [e["objective"] for e in trial.epochs], lw=1.2)
        test = [e.get(f"test_{metric}", np.nan) for e in trial.epochs]
        axis.plot(epochs, test, lw=1.0, ls="--", color=line.get_color())
    axis.set_xlabel("epoch")
    axis.set_ylabel(metric)
    axis.set_title(f"learning curves: val {metric} (solid, chooses) and test (dashed, reports)", fontsize=9)
    return png_of(figure)
