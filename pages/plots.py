"""Study plots: TP% and FP% per backbone × modality, objective against K and λ, learning curves,
test ROC curves with the val-chosen operating point, TP% per anomaly kind."""

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


def roc_points(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FP rate and TP rate (both in [0, 1]) at every distinct threshold, from (0, 0) to (1, 1)."""
    labels, scores = np.asarray(labels, bool), np.asarray(scores, np.float64)
    order = np.argsort(-scores, kind="stable")
    labels, scores = labels[order], scores[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1] if len(scores) else np.zeros(0, int)
    tp, fp = np.cumsum(labels)[last], np.cumsum(~labels)[last]
    positives, negatives = max(int(labels.sum()), 1), max(int((~labels).sum()), 1)
    return np.r_[0.0, fp / negatives], np.r_[0.0, tp / positives]


def roc_curves(curves: list[tuple[str, np.ndarray, np.ndarray, float]], level: str) -> bytes:
    """Test ROC curves, one per (name, labels, scores, val-chosen threshold), each with its
    operating point (the val-chosen threshold applied to test) marked."""
    figure = Figure(figsize=(4.6, 4.4))
    axis = figure.subplots()
    axis.plot([0, 1], [0, 1], color="#bbbbbb", lw=0.8, ls=":")
    for name, labels, scores, threshold in curves:
        fpr, tpr = roc_points(labels, scores)
        line, = axis.plot(fpr, tpr, lw=1.4, label=name)
        flagged = np.asarray(scores) >= threshold
        labels = np.asarray(labels, bool)
        fp_rate = (flagged & ~labels).sum() / max((~labels).sum(), 1)
        tp_rate = (flagged & labels).sum() / max(labels.sum(), 1)
        axis.plot(fp_rate, tp_rate, "o", color=line.get_color(), ms=6, mec="black")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.01)
    axis.set_xlabel("false positive rate (benign flagged)")
    axis.set_ylabel("true positive rate (anomalies flagged)")
    axis.set_title(f"test ROC, {level} level (dot: val-chosen threshold)", fontsize=9)
    axis.legend(fontsize=7, loc="lower right")
    return png_of(figure)


def kind_bars(kinds: pd.DataFrame) -> bytes:
    """TP% at the val-chosen threshold per anomaly kind (95 % interval as error bars), one bar
    group per pipeline's best trial."""
    pipelines = sorted(set(kinds["pipeline"]))
    names = sorted(set(kinds["kind"]))
    x = np.arange(len(names))
    width = 0.8 / max(len(pipelines), 1)
    figure = Figure(figsize=(max(4.5, 1.1 * len(names) + 2), 3.6))
    axis = figure.subplots()
    for index, pipeline in enumerate(pipelines):
        part = kinds[kinds["pipeline"] == pipeline].set_index("kind").reindex(names)
        tp = pd.to_numeric(part["TP%"], errors="coerce").to_numpy(dtype=float)
        low = pd.to_numeric(part["TP%_lo"], errors="coerce").to_numpy(dtype=float)
        high = pd.to_numeric(part["TP%_hi"], errors="coerce").to_numpy(dtype=float)
        errors = np.nan_to_num(np.vstack([tp - low, high - tp]), nan=0.0).clip(min=0)
        axis.bar(x + (index - (len(pipelines) - 1) / 2) * width, np.nan_to_num(tp), width, yerr=errors,
                 capsize=3, label=pipeline)
    axis.set_xticks(x, [n.replace("_", "\n") for n in names], fontsize=8)
    axis.set_ylim(0, 100)
    axis.set_ylabel("TP% at the val-chosen threshold")
    axis.set_title("test, object level, per anomaly kind", fontsize=9)
    axis.legend(fontsize=8)
    return png_of(figure)


def reliability_diagram(bins: dict, title: str) -> bytes:
    """A reliability diagram (models.calibration.reliability): each score bin's anomalous fraction
    against its mean score, the diagonal where scores are probabilities, item counts below."""
    figure = Figure(figsize=(4.6, 4.6))
    top, bottom = figure.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    filled = [i for i, c in enumerate(bins["count"]) if c]
    means = [bins["mean_score"][i] for i in filled]
    fractions = [bins["anomalous_fraction"][i] for i in filled]
    top.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1, label="calibrated")
    top.plot(means, fractions, marker="o", color="#4a78a8", label="items")
    top.set_ylabel("anomalous fraction")
    top.set_ylim(0, 1)
    top.set_title(f"{title}\nECE {bins['ece']:.3f}" if bins.get("ece") is not None else title, fontsize=9)
    top.legend(fontsize=8, loc="upper left")
    width = 1.0 / bins["bins"]
    bottom.bar(np.arange(bins["bins"]) * width, bins["count"], width=width, align="edge", color="#4a78a8",
               edgecolor="white")
    bottom.set_xlabel("item score")
    bottom.set_ylabel("items")
    bottom.set_xlim(0, 1)
    return png_of(figure)
