"""A trained item-first model judged on a labelled archive split, end to end through the same
``predict`` that scoring runs."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from models.calibration import reliability
from models.intervals import binomial_interval, format_estimate
from models.items.matching import match_items
from models.metrics import auroc
from models.trained import TrainedModel, load_trained_model
from scans.archive import Archive
from scans.modalities import build_input, modality_channels
from study.evaluation import LevelScores, class_and_design_estimates, kind_estimates, level_estimates
from study.items.data import ItemSet, ItemSetBuilder


@dataclass
class ModelEvaluation:
    """Object-level figures of one model on one split at the model's own threshold: every true item
    (a missed one scores 0) and every found item that matches none (a benign one); 95 % intervals,
    exact binomial for TP% and FP%, a bootstrap over scans for AUROC and AP."""

    archive: str
    split: str
    model: str
    model_sha256: str
    threshold: float
    item_score: str
    n_scans: int
    n_true_items: int
    n_found_items: int
    item_recall: float | None  # true items matched by a found one at IoU ≥ 0.5
    object: dict[str, dict]  # metric -> {"value", "low", "high"}
    kinds: list[dict]  # per anomaly kind: {"kind", "n_items", "auroc": {...}, "tp_pct": {...}, "ap": {...}}
    scan_auroc: float | None
    seconds: float
    labels: list[bool]  # each judged item's truth and score, for ROC plots
    scores: list[float]
    scan_ids: list[str]  # each scan's score and flag, as a scoring job reports them
    scan_scores: list[float]
    scan_flagged: list[bool]
    n_found_judged: int = 0  # the first n of labels/scores are found items (the rest missed, at 0)
    calibration: str = "none"  # how the item scores read: the method val fitted, or none (raw)
    reliability: dict | None = None  # the found items' reliability bins and ECE (models.calibration)
    item_scans: list[int] = field(default_factory=list)  # each judged item's scan, an index into scan_ids
    # per item class (its anomalous items against its benign ones, each kind within it), and seen
    # against unseen designs where the archive records items' models and the model its training's
    classes: list[dict] = field(default_factory=list)
    designs: list[dict] = field(default_factory=list)
    # the share of matched found items the item stage named as their true class, exact interval,
    # over ``n``; None where its finder names no classes
    class_accuracy: dict | None = None

    def as_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode()

    def line(self) -> str:
        """One line: object AUROC with its interval, TP% and FP% at the threshold, item recall."""
        auroc, ap, tp, fp = (self.object.get(k, {}) for k in ("auroc", "ap", "tp_pct", "fp_pct"))
        recall = "—" if self.item_recall is None else f"{100 * self.item_recall:.1f} %"
        ece = (self.reliability or {}).get("ece")
        named = ("" if self.class_accuracy is None else
                 f", their classes right {format_estimate(self.class_accuracy, 1)} %")
        return (f"{self.split}: object AUROC {format_estimate(auroc, 3)}, AP {format_estimate(ap, 3)} over "
                f"{len(self.labels)} items "
                f"of {self.n_scans} scans; at threshold {self.threshold:.3f} TP {format_estimate(tp, 1)} %, "
                f"FP {format_estimate(fp, 1)} %; items found {recall}{named}; found items' ECE "
                f"{'—' if ece is None else f'{ece:.3f}'} ({self.calibration} scores)")


@dataclass
class FoundSplit:
    """A split's items as a model's item stage finds them, and how many true items it matched."""

    items: ItemSet
    n_true: int
    n_matched: int  # true items matched by a found one at IoU ≥ 0.5
    n_found: int


@torch.no_grad()
def find_split_items(scoring: TrainedModel, archive: Archive, ids: list[str]) -> FoundSplit:
    """Find the items of scans ``ids`` with the model's item stage and cut them (labelled scans only)."""
    builder, n_true, n_matched, n_found = ItemSetBuilder(), 0, 0, 0
    finder_device = next(scoring.finder.parameters()).device
    for scan_id in ids:
        scan = archive.read(scan_id)
        if not scan.has_labels:
            raise ValueError(f"{archive.file_uri(scan_id)}: evaluation needs labels (objects, anomaly)")
        image = build_input(scan, scoring.modality)
        finder_image = (image if scoring.finder_modality == scoring.modality
                        else build_input(scan, scoring.finder_modality))
        found = scoring.finder.find(torch.from_numpy(finder_image)[None].to(finder_device))[0]
        masks = found.masks()
        n_true += scan.n_objects
        n_matched += int(match_items(masks, scan.objects, scan.n_objects).found_truth.sum())
        n_found += len(masks)
        names = None if found.classes is None else np.asarray(found.classes, np.str_)
        builder.add_scan(scan, image, masks, names)
    return FoundSplit(builder.build(modality_channels(scoring.modality)), n_true, n_matched, n_found)


@dataclass
class JudgedSplit:
    """A split scored scan by scan through the model's own ``predict`` (what scoring runs), each
    found item judged by the true item it matches; missed true items score 0."""

    levels: LevelScores  # object level (found items, then missed ones) and scan level
    n_true: int
    n_matched: int
    n_found: int
    scan_ids: list[str]
    scan_scores: list[float]  # each scan's score as scoring reports it: its highest item score
    scan_flagged: list[bool]  # as scoring flags it: some segment of a flagged item
    n_found_judged: int = 0  # the object level's first entries that are found items
    n_named: int = 0  # matched found items the finder named a class (finders that name classes)
    n_named_right: int = 0  # of them, those named their true item's class


def item_tags(scan) -> list[tuple[str, str, str]]:
    """Each true item's anomaly kind, class and model ("" where the archive records none)."""
    n = scan.n_objects

    def column(values) -> list[str]:
        return [str(v) for v in values] if values is not None else [""] * n

    return list(zip(column(scan.object_anomaly_kind), column(scan.object_class), column(scan.object_model),
                    strict=True))


@torch.no_grad()
def judge_split(trained: TrainedModel, archive: Archive, ids: list[str]) -> JudgedSplit:
    """Score scans ``ids`` with ``trained.predict`` and judge every found item and every true item
    against the archive's labels (labelled scans only)."""
    found_labels, found_scores, found_tags, found_scans, missed = [], [], [], [], []
    scan_labels, scan_scores, scan_flagged = [], [], []
    n_true = n_matched = n_found = n_named = n_named_right = 0
    for index, scan_id in enumerate(ids):
        scan = archive.read(scan_id)
        if not scan.has_labels:
            raise ValueError(f"{archive.file_uri(scan_id)}: evaluation needs labels (objects, anomaly)")
        prediction = trained.predict([build_input(scan, trained.input_modality)])[0]
        n = scan.n_objects
        flags = np.asarray(scan.object_anomalous, bool) if n else np.zeros(0, bool)
        tags = item_tags(scan)  # each true item's (kind, class, model)
        masks = prediction.item_masks
        match = match_items(masks, scan.objects, n)
        for mask, score, truth in zip(masks, prediction.item_scores, match.truth_of_found, strict=True):
            if mask.any():
                found_labels.append(bool(flags[truth]) if truth >= 0 else False)
                found_tags.append(tags[truth] if truth >= 0 else ("", "", ""))
                found_scores.append(float(score))
                found_scans.append(index)
        if prediction.item_classes is not None:
            named = [(name, tags[truth][1]) for name, truth in
                     zip(prediction.item_classes, match.truth_of_found.tolist(), strict=True) if truth >= 0]
            n_named += len(named)
            n_named_right += sum(name == truth for name, truth in named)
        missed += [(bool(flags[t]), tags[t], index) for t in np.flatnonzero(~match.found_truth)]
        n_true, n_found = n_true + n, n_found + len(masks)
        n_matched += int(match.found_truth.sum())
        scan_labels.append(bool(flags.any()))
        scan_scores.append(float(prediction.scan_score))
        scan_flagged.append(bool(prediction.flagged.any()))
    levels = LevelScores()
    tags = np.array(found_tags + [m[1] for m in missed], np.str_).reshape(-1, 3)
    levels.add("object", np.array(found_labels + [m[0] for m in missed], bool),
               np.array(found_scores + [0.0] * len(missed), np.float64), tags[:, 0],
               np.array(found_scans + [m[2] for m in missed], np.int64),  # each item's scan
               classes=tags[:, 1], models=tags[:, 2])
    levels.add("scan", np.array(scan_labels, bool), np.array(scan_scores, np.float64))
    return JudgedSplit(levels, n_true, n_matched, n_found, list(ids), scan_scores, scan_flagged,
                       len(found_labels), n_named, n_named_right)


@torch.no_grad()
def evaluate_model(model_uri: str, archive_uri: str, split: str = "test",
                   device: torch.device | str | None = None, runtime: str = "torch") -> ModelEvaluation:
    """Score every scan of ``split`` as a scoring job does (the model's ``predict``: its item stage
    finds the items, the model scores each by its rule) and judge the items against the labels."""
    start = time.perf_counter()
    scoring = load_trained_model(model_uri, device, runtime=runtime)
    if not scoring.item_first:
        raise ValueError(f"{model_uri}: a {scoring.pipeline} model scores whole scans; evaluation on found "
                         "items needs an item-first model (subcomponent or object)")
    archive = Archive(archive_uri)
    ids = archive.ids_in_split(split)
    if not ids:
        raise ValueError(f"{archive.root.uri}: no scans in split {split!r}")
    judged = judge_split(scoring, archive, ids)
    levels, n_true, n_found = judged.levels, judged.n_true, judged.n_found
    labels, values = levels.arrays("object")
    scan_auroc = auroc(*levels.arrays("scan"))  # the figure only: no interval to bootstrap
    return ModelEvaluation(
        archive.root.uri, split, scoring.uri, scoring.sha256, float(scoring.threshold), scoring.item_score,
        len(ids), n_true, n_found, judged.n_matched / n_true if n_true else None,
        {name: e.as_dict() for name, e in level_estimates(levels, scoring.threshold, "object").items()},
        [{"kind": k.kind, "n_items": k.n_items, "auroc": k.auroc.as_dict(), "tp_pct": k.tp_pct.as_dict(),
          "ap": k.ap.as_dict()} for k in kind_estimates(levels, scoring.threshold)],
        scan_auroc, round(time.perf_counter() - start, 3),
        [bool(v) for v in labels], [float(v) for v in np.asarray(values, np.float64)],
        judged.scan_ids, judged.scan_scores, judged.scan_flagged, judged.n_found_judged,
        "none" if scoring.calibration is None else scoring.calibration.method,
        reliability(values[:judged.n_found_judged], labels[:judged.n_found_judged]),
        [int(v) for v in levels.scan_ids("object")],
        *([g.as_dict() for g in groups] for groups in
          class_and_design_estimates(levels, scoring.threshold, scoring.train_models).values()),
        class_accuracy(judged) if scoring.finder.classes else None)


def class_accuracy(judged: JudgedSplit) -> dict:
    """The share (%) of matched found items named as their true class, its exact interval and count."""
    interval = binomial_interval(judged.n_named_right, judged.n_named, scale=100.0)
    value = 100.0 * judged.n_named_right / judged.n_named if judged.n_named else None
    return {"value": value, "low": interval.low, "high": interval.high, "n": judged.n_named}
