"""Scoring item sets with an item sub-component model: superpixel and item scores, then three levels."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from models.calibration import ScoreCalibration, reliability
from models.catalog import ITEM_SCORES
from models.item_scores import item_score
from models.items.object_model import ItemObjectModel
from models.items.scan import item_object_probs, item_superpixels
from models.metrics import auroc
from models.subcomponent.items import ItemSubcomponentModel
from models.subcomponent.model import IGNORE
from scans.progress import progress_of
from study.evaluation import LevelScores
from study.items.data import ItemSet


@dataclass
class ItemScores:
    """Every item's score under every rule of ITEM_SCORES the model can give (``learned`` only with
    a fitted item head), the judged superpixels' labels and probabilities (segment level), and
    each item's evidence when the model has an item head."""

    by_rule: dict[str, np.ndarray]  # rule -> (n,) float32
    segment_labels: np.ndarray  # (S,) bool
    segment_scores: np.ndarray  # (S,) float32
    evidence: np.ndarray | None = None  # (n, F) float32
    segment_items: np.ndarray | None = None  # (S,) int64: the item each judged superpixel lies in


def calibrated_scores(scores: ItemScores, rule: str, calibration: ScoreCalibration | None) -> ItemScores:
    """``scores`` with the items' scores under ``rule`` through ``calibration`` (as the shipped model
    reports them); unchanged without one."""
    if calibration is None:
        return scores
    return replace(scores, by_rule={**scores.by_rule, rule: calibration.apply(scores.by_rule[rule])})


def calibration_record(raw: np.ndarray, anomalous: np.ndarray, calibration: ScoreCalibration | None
                       ) -> dict[str, float | str | None]:
    """The expected calibration error of test's found items, raw and as reported (the same without
    a calibration), and the method val chose ("none" when too few val items)."""
    before = reliability(raw, anomalous)["ece"]
    after = before if calibration is None else reliability(calibration.apply(raw), anomalous)["ece"]
    return {"test_object_ece_raw": before, "test_object_ece": after,
            "calibration_method": "none" if calibration is None else calibration.method}


@torch.no_grad()
def score_items(model: ItemSubcomponentModel, items: ItemSet, device: torch.device) -> ItemScores:
    """Each item's whole crop (as the model's item input shows it) through the model, one item at a
    time: the per-item scoring that ``predict`` runs on a scan's found items."""
    model.eval()
    head = model.item_head
    rules = [r for r in ITEM_SCORES if r != "learned" or (head is not None and bool(head.fitted))]
    by_rule = {rule: np.zeros(len(items), np.float32) for rule in rules}
    labels, scores, evidence, segment_items = [], [], [], []
    px = items.item_px()
    bar = progress_of("scoring items", len(items), "items")  # a val pass of the bar's takes minutes
    for i in range(len(items)):
        crop = items.crop(i, model.input.margin)
        parts, targets = item_superpixels(model, crop.image, crop.mask, float(px[i]), crop.anomaly,
                                          str(items.named_class[i]))
        for rule in rules:
            by_rule[rule][i] = item_score(rule, parts.probs, parts.area, parts.learned)
        judged = targets != IGNORE
        labels.append((targets[judged] == 1).cpu().numpy())
        scores.append(parts.probs[judged].cpu().numpy())
        segment_items.append(np.full(int(judged.sum()), i, np.int64))
        evidence.append(parts.evidence)
        bar.update()
    bar.close()
    return ItemScores(by_rule, np.concatenate(labels) if labels else np.zeros(0, bool),
                      np.concatenate(scores).astype(np.float32) if scores else np.zeros(0, np.float32),
                      np.stack(evidence) if head is not None and evidence else None,
                      np.concatenate(segment_items) if segment_items else np.zeros(0, np.int64))


def fit_item_head(model: ItemSubcomponentModel, held_out: ItemSet, device: torch.device) -> None:
    """Fit the model's item head on the evidence of ``held_out`` items (train items the classifier
    never trained on: never val or test) and their truth."""
    if model.item_head is None:
        raise ValueError("this model has no item head to fit")
    scores = score_items(model, held_out, device)
    model.item_head.fit(scores.evidence, held_out.anomalous)


@torch.no_grad()
def score_objects(model: ItemObjectModel, items: ItemSet, device: torch.device,
                  batch: int = 32) -> ItemScores:
    """Each item's masked crop classified whole, as ``predict`` classifies a found item; the item is
    its one segment (rule ``whole``)."""
    model.eval()
    probs = []
    for start in range(0, len(items), batch):
        crops = [items.crop(i, model.input.margin) for i in range(start, min(start + batch, len(items)))]
        probs.append(item_object_probs(model, [c.image for c in crops], [c.mask for c in crops]))
    scores = np.concatenate(probs).astype(np.float32) if probs else np.zeros(0, np.float32)
    return ItemScores({"whole": scores}, items.anomalous.copy(), scores,
                      segment_items=np.arange(len(items), dtype=np.int64))


def level_scores(items: ItemSet, scores: ItemScores, rule: str) -> LevelScores:
    """Segment, object and scan scores under ``rule``: every item of the set, plus every true item
    the item stage missed at score 0 (a missed anomalous item is a miss); a scan scores its
    highest item. Every sample keeps its scan, for intervals that resample scans."""
    out = LevelScores()
    segment_scans = None if scores.segment_items is None else items.scan_index[scores.segment_items]
    out.add("segment", scores.segment_labels, scores.segment_scores, scans=segment_scans)
    item = scores.by_rule[rule]
    missed = np.zeros(len(items.missed_scan), np.float32)
    out.add("object", np.concatenate([items.anomalous, items.missed_anomalous]),
            np.concatenate([item, missed]), np.concatenate([items.kind, items.missed_kind]),
            np.concatenate([items.scan_index, items.missed_scan]),
            classes=np.concatenate([items.item_class, items.missed_class]),
            models=np.concatenate([items.item_model, items.missed_model]))
    scan = np.zeros(len(items.scan_ids), np.float32)
    np.maximum.at(scan, items.scan_index, item)
    out.add("scan", items.scan_anomalous, scan)
    return out


def choose_rule(items: ItemSet, scores: ItemScores) -> tuple[str, dict[str, float]]:
    """The item-score rule with the highest object AUROC on these (val) items, and each rule's."""
    labels = np.concatenate([items.anomalous, items.missed_anomalous])
    aurocs = {}
    for rule, item in scores.by_rule.items():
        value = auroc(labels, np.concatenate([item, np.zeros(len(items.missed_scan), np.float32)]))
        aurocs[rule] = float("nan") if value is None else float(value)
    finite = {r: v for r, v in aurocs.items() if np.isfinite(v)}
    return (max(finite, key=finite.get) if finite else next(iter(ITEM_SCORES))), aurocs
