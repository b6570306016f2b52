"""Evaluation of a trained model: level scores, the val-chosen threshold, test metrics, and figures
per anomaly kind, per item class and for seen against unseen designs."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from models.intervals import Interval, metric_intervals
from models.metrics import LEVELS, METRICS, binary_metrics, threshold_for_fp_pct
from models.model_dir import (  # noqa: F401  (SCORES_FILE: a checkpoint's scores, as scores_npz writes them)
    DEFAULT_THRESHOLD,  # also when val has no benign item to set one with
    SCORES_FILE,
)
from scans.phantoms.catalogue import model_name

SPLITS = ("val", "test")  # val chooses, test reports
# what "objective" is when its metric is undefined: the worst value for the mode
WORST = {"max": 0.0, "min": 1e6}


@dataclass
class LevelScores:
    """Scores and labels at segment, object and scan level, accumulated over batches; at object
    level also each item's anomaly kind ("" for benign items and where kinds are unknown), class and
    model ("" where unknown); at every level each sample's scan, so that intervals resample scans
    (a scan's items share its clutter)."""

    parts: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = field(
        default_factory=lambda: {level: ([], []) for level in LEVELS})
    kinds: list[np.ndarray] = field(default_factory=list)
    classes: list[np.ndarray] = field(default_factory=list)
    models: list[np.ndarray] = field(default_factory=list)
    scans: dict[str, list[np.ndarray]] = field(default_factory=lambda: {level: [] for level in LEVELS})
    _next_scan: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))

    def add(self, level: str, labels: torch.Tensor | np.ndarray, scores: torch.Tensor | np.ndarray,
            kinds: np.ndarray | list[str] | None = None, scans: np.ndarray | list[int] | None = None,
            classes: np.ndarray | list[str] | None = None,
            models: np.ndarray | list[str] | None = None) -> None:
        """Samples of one batch; ``scans`` is each sample's scan within this batch (0, 1, ...),
        numbered on after the scans of earlier batches; None: each sample a scan of its own (as at
        scan level). ``kinds``, ``classes`` and ``models`` (object level): each item's, "" unknown."""
        labels = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        scores = scores.detach().float().cpu().numpy() if isinstance(scores, torch.Tensor) else scores
        self.parts[level][0].append(labels.astype(bool).reshape(-1))
        # float64: calibrated scores keep their strict order (models.calibration)
        self.parts[level][1].append(np.asarray(scores, dtype=np.float64).reshape(-1))
        if isinstance(scans, torch.Tensor):
            scans = scans.detach().cpu().numpy()
        local = np.arange(labels.size) if scans is None else np.asarray(scans, np.int64).reshape(-1)
        if local.size != labels.size:
            raise ValueError(f"{local.size} scan ids for {labels.size} samples")
        self.scans[level].append(self._next_scan[level] + local)
        self._next_scan[level] += int(local.max()) + 1 if local.size else 0
        if level == "object":
            for name, values, into in (("kinds", kinds, self.kinds), ("classes", classes, self.classes),
                                       ("models", models, self.models)):
                given = np.full(labels.size, "", np.str_) if values is None else np.asarray(values, np.str_)
                if given.size != labels.size:
                    raise ValueError(f"{given.size} {name} for {labels.size} items")
                into.append(given.reshape(-1))

    def arrays(self, level: str) -> tuple[np.ndarray, np.ndarray]:
        labels, scores = self.parts[level]
        return (np.concatenate(labels) if labels else np.zeros(0, bool),
                np.concatenate(scores) if scores else np.zeros(0, np.float64))

    def scan_ids(self, level: str) -> np.ndarray:
        """(n,) int64: each sample's scan, numbered across batches."""
        return np.concatenate(self.scans[level]) if self.scans[level] else np.zeros(0, np.int64)

    def object_kinds(self) -> np.ndarray:
        """(n_items,) unicode: each scored item's anomaly kind."""
        return np.concatenate(self.kinds) if self.kinds else np.zeros(0, np.str_)

    def object_classes(self) -> np.ndarray:
        """(n_items,) unicode: each scored item's class ("" where unknown: a found item matching none)."""
        return np.concatenate(self.classes) if self.classes else np.zeros(0, np.str_)

    def object_models(self) -> np.ndarray:
        """(n_items,) unicode: the model each scored item was built from ("" where unknown)."""
        return np.concatenate(self.models) if self.models else np.zeros(0, np.str_)

    def flat(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Plain arrays keyed ``{prefix}{level}/labels``, ``/scores``, ``/scans`` and
        ``{prefix}object/kinds``, ``/classes``, ``/models``."""
        out = {}
        for level in LEVELS:
            out[f"{prefix}{level}/labels"], out[f"{prefix}{level}/scores"] = self.arrays(level)
            out[f"{prefix}{level}/scans"] = self.scan_ids(level)
        out[f"{prefix}object/kinds"] = self.object_kinds()
        out[f"{prefix}object/classes"] = self.object_classes()
        out[f"{prefix}object/models"] = self.object_models()
        return out

    @classmethod
    def from_flat(cls, arrays, prefix: str = "") -> LevelScores:
        """What ``flat`` wrote; files written before scans were kept read with each sample a scan
        of its own, before classes and models were kept with them unknown."""
        scores = cls()
        for level in LEVELS:
            tags = {}
            if level == "object":
                tags = {"kinds": arrays[f"{prefix}object/kinds"],
                        "classes": arrays.get(f"{prefix}object/classes"),
                        "models": arrays.get(f"{prefix}object/models")}
            scans = arrays.get(f"{prefix}{level}/scans")
            scores.add(level, arrays[f"{prefix}{level}/labels"], arrays[f"{prefix}{level}/scores"],
                       scans=scans, **tags)
        return scores


def scores_npz(splits: dict[str, LevelScores]) -> bytes:
    """The level scores of each split as .npz bytes (what a checkpoint's scores.npz holds)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: v for split, scores in splits.items()
                                   for k, v in scores.flat(f"{split}/").items()})
    return buffer.getvalue()


def read_scores_npz(data: bytes) -> dict[str, LevelScores]:
    """The splits of a scores.npz, loaded with allow_pickle=False."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        splits = sorted({key.split("/", 1)[0] for key in npz.files})
        return {split: LevelScores.from_flat(npz, f"{split}/") for split in splits}


def operating_threshold(val: LevelScores, level: str, fp_target: float) -> float:
    """The lowest threshold keeping val FP% at ``level`` at or below ``fp_target``; 0.5 when val
    has no benign sample at that level."""
    labels, scores = val.arrays(level)
    if not (~labels).any() or np.isnan(scores).any():  # nothing to set it with (NaN: a diverged model)
        return DEFAULT_THRESHOLD
    return threshold_for_fp_pct(labels, scores, fp_target)


def metrics_at(scores: LevelScores, threshold: float, prefix: str) -> dict[str, float]:
    """``{prefix}{level}_{metric}`` at ``threshold`` for every level; undefined values NaN."""
    out = {}
    for level in LEVELS:
        values = binary_metrics(*scores.arrays(level), threshold)
        for name in METRICS:
            value = getattr(values, name)
            out[f"{prefix}{level}_{name}"] = float("nan") if value is None else float(value)
    return out


def epoch_metrics(val: LevelScores, test: LevelScores, metric: str, mode: str,
                  fp_target: float) -> dict[str, float]:
    """One epoch's record: the threshold chosen on val (FP% ≤ ``fp_target`` at the metric's level),
    every metric on val (``val_*``) and on test (``test_*``) at it, and ``objective``: the val value
    of ``metric``, the worst value for ``mode`` when undefined. Nothing on test feeds a choice."""
    threshold = operating_threshold(val, metric.split("_", 1)[0], fp_target)
    out = {"threshold": float(threshold), **metrics_at(val, threshold, "val_"),
           **metrics_at(test, threshold, "test_")}
    value = out[f"val_{metric}"]
    out["objective"] = WORST[mode] if math.isnan(value) else value
    return out


@dataclass(frozen=True)
class Estimate:
    """A metric on test with its 95 % interval (exact binomial for rates, a bootstrap over scans
    for the rest); None where undefined."""

    value: float | None
    interval: Interval

    def as_dict(self) -> dict:
        """``{"value", "low", "high"}``: how model cards and evaluation files store it."""
        return {"value": self.value, "low": self.interval.low, "high": self.interval.high}


def level_estimates(test: LevelScores, threshold: float, level: str, seed: int = 0) -> dict[str, Estimate]:
    """Every metric of ``level`` on test at ``threshold``, with 95 % intervals: exact binomial for
    the rates, a bootstrap over scans for F1, AUROC, AP and best F1."""
    labels, scores = test.arrays(level)
    values = binary_metrics(labels, scores, threshold)
    intervals = metric_intervals(labels, scores, threshold, test.scan_ids(level), seed=seed)
    return {name: Estimate(getattr(values, name), intervals.get(name, Interval(None, None)))
            for name in METRICS}


@dataclass(frozen=True)
class KindEstimate:
    """Object-level figures of one anomaly kind: its items against every benign item."""

    kind: str
    n_items: int
    auroc: Estimate  # this kind's items against all benign items
    tp_pct: Estimate  # share of this kind's items flagged at the operating threshold
    ap: Estimate  # average precision of this kind's items among all benign items


def kind_estimates(test: LevelScores, threshold: float, seed: int = 0,
                   within: np.ndarray | None = None) -> list[KindEstimate]:
    """Per anomaly kind (kinds known only: anomalous items whose kind is "" are left out), sorted by
    name; with ``within`` (a mask over the object level's items) among those items only."""
    labels, scores = test.arrays("object")
    kinds, scans = test.object_kinds(), test.scan_ids("object")
    within = np.ones(labels.size, bool) if within is None else within
    out = []
    for kind in sorted(set(kinds[labels & within]) - {""}):
        chosen = within & (~labels | (kinds == kind))
        sub_labels, sub_scores = labels[chosen], scores[chosen]
        values = binary_metrics(sub_labels, sub_scores, threshold)
        intervals = metric_intervals(sub_labels, sub_scores, threshold, scans[chosen], seed=seed)
        out.append(KindEstimate(str(kind), values.tp + values.fn, Estimate(values.auroc, intervals["auroc"]),
                                Estimate(values.tp_pct, intervals["tp_pct"]),
                                Estimate(values.ap, intervals["ap"])))
    return out


@dataclass(frozen=True)
class GroupEstimate:
    """Object-level figures of one group of items (an item class, seen or unseen designs): its
    anomalous items against its own benign ones, at the operating threshold."""

    group: str
    n_items: int
    n_anomalous: int
    auroc: Estimate
    ap: Estimate
    tp_pct: Estimate
    fp_pct: Estimate
    kinds: list[KindEstimate] = field(default_factory=list)  # per anomaly kind within the group

    def as_dict(self) -> dict:
        return {"group": self.group, "n_items": self.n_items, "n_anomalous": self.n_anomalous,
                **{name: getattr(self, name).as_dict() for name in ("auroc", "ap", "tp_pct", "fp_pct")},
                "kinds": [{"kind": k.kind, "n_items": k.n_items, "auroc": k.auroc.as_dict(),
                           "tp_pct": k.tp_pct.as_dict(), "ap": k.ap.as_dict()} for k in self.kinds]}


def group_estimates(test: LevelScores, threshold: float, groups: np.ndarray, seed: int = 0,
                    with_kinds: bool = False) -> list[GroupEstimate]:
    """Per group named in ``groups`` (one name per object-level item; "" left out), sorted by name:
    AUROC and AP over scans, TP% and FP% exact; with ``with_kinds`` each kind within the group."""
    labels, scores = test.arrays("object")
    scans = test.scan_ids("object")
    out = []
    for group in sorted(set(groups.tolist()) - {""}):
        chosen = groups == group
        values = binary_metrics(labels[chosen], scores[chosen], threshold)
        intervals = metric_intervals(labels[chosen], scores[chosen], threshold, scans[chosen], seed=seed)
        out.append(GroupEstimate(
            str(group), int(chosen.sum()), int(labels[chosen].sum()),
            *(Estimate(getattr(values, name), intervals.get(name, Interval(None, None)))
              for name in ("auroc", "ap", "tp_pct", "fp_pct")),
            kind_estimates(test, threshold, seed, within=chosen) if with_kinds else []))
    return out


def design_groups(models: np.ndarray, train_models: dict[str, list[int]] | None) -> np.ndarray:
    """Each item's design as the model knows it: "seen" when its model was in the training split's,
    "unseen" when not, "" when the item's model or the training split's models are unknown."""
    if not train_models:
        return np.full(models.size, "", np.str_)
    seen = {model_name(item_class, index) for item_class, ids in train_models.items() for index in ids}
    return np.array(["" if not m else "seen" if m in seen else "unseen" for m in models.tolist()], np.str_)


def class_and_design_estimates(test: LevelScores, threshold: float, train_models: dict[str, list[int]] | None,
                               seed: int = 0) -> dict[str, list[GroupEstimate]]:
    """``{"classes": ..., "designs": ...}``: the figures of each item class and of seen against
    unseen designs (empty where the items' models or the training split's are unknown), each with
    its kinds."""
    return {"classes": group_estimates(test, threshold, test.object_classes(), seed, with_kinds=True),
            "designs": group_estimates(test, threshold, design_groups(test.object_models(), train_models),
                                       seed, with_kinds=True)}
