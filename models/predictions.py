"""What a model says of one scan: its segments as a label map, their scores, areas, boxes and
centroids; for item-first models also which segments are flagged, the scan's score and the items."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Verdict:
    """What a prediction says of its scan at a threshold (ScanPrediction.verdict)."""

    flagged: np.ndarray  # (n,) bool: the segments flagged anomalous (scored ones only)
    score: float  # the scan's score
    is_anomalous: bool  # any segment flagged


@dataclass
class ScanPrediction:
    """One scan's n segments at the model's input size S×S (label map numbered 0..n−1), their
    scores, which are scored (SSN: every superpixel; Mask R-CNN: its items, not the background),
    areas (px), boxes (x0, y0, x1, y1; exclusive ends) and centroids (cx, cy)."""

    labels: np.ndarray  # (S, S) int32
    scores: np.ndarray  # (n,) float32, 0 where not scored
    scored: np.ndarray  # (n,) bool
    area: np.ndarray  # (n,) int64
    boxes: np.ndarray  # (n, 4) float32
    centroid: np.ndarray  # (n, 2) float32
    # item-first models: a segment is anomalous when its item is (item score ≥ threshold) and it is
    # one of the item's strongest; the scan's score is its highest item score
    flagged: np.ndarray | None = None  # (n,) bool
    scan_score: float | None = None
    item_boxes: np.ndarray | None = None  # (m, 4) x0, y0, x1, y1 of each found item, scan pixels
    item_scores: np.ndarray | None = None  # (m,) float32: each found item's score by the model's rule
    item_masks: list[np.ndarray] | None = None  # (H, W) bool of each found item (not in reports)
    item_detection: np.ndarray | None = None  # (m,) float32: the item finder's confidence in each
    segment_item: np.ndarray | None = None  # (n,) int64: the item each segment lies in, −1 for none
    item_classes: list[str] | None = None  # each found item's class, where the finder names classes
    score_rule: str | None = None  # how the scan's score came from its parts, in words

    def verdict(self, threshold: float) -> Verdict:
        """The flag rule, the one place it is written: the scored segments flagged (the model's own
        flags where it sets them, item-first models; else a score ≥ ``threshold``), the scan's score
        (the model's own, else its highest scored segment's, 0 with none) and whether the scan is
        anomalous (any segment flagged)."""
        flagged = self.flagged if self.flagged is not None else self.scores >= threshold
        flagged = np.asarray(flagged, bool) & self.scored
        score = (self.scan_score if self.scan_score is not None
                 else float(self.scores[self.scored].max()) if self.scored.any() else 0.0)
        return Verdict(flagged, float(score), bool(flagged.any()))


def segment_boxes(labels: np.ndarray, n: int) -> np.ndarray:
    """(n, 4) int64 boxes (x0, y0, x1, y1; exclusive ends, zeros for ids without pixels) of the
    ids 0..n−1 of an (H, W) label map."""
    ys, xs = np.indices(labels.shape)
    flat = labels.ravel()
    boxes = np.zeros((n, 4), np.int64)
    for column, (values, reduce) in enumerate(((xs, np.minimum), (ys, np.minimum), (xs + 1, np.maximum),
                                              (ys + 1, np.maximum))):
        start = np.full(n, max(labels.shape) + 1 if reduce is np.minimum else 0, np.int64)
        reduce.at(start, flat, values.ravel())
        boxes[:, column] = start
    boxes[np.bincount(flat, minlength=n) == 0] = 0
    return boxes


def prediction_of(labels: np.ndarray, scores: np.ndarray, scored: np.ndarray,
                   flagged: np.ndarray | None = None, scan_score: float | None = None,
                   item_boxes: np.ndarray | None = None, item_scores: np.ndarray | None = None,
                   item_masks: list[np.ndarray] | None = None, **items) -> ScanPrediction:
    """A ScanPrediction from (H, W) labels 0..n−1 (ids without pixels allowed) and per-id values;
    ``items``: item_detection, segment_item, score_rule, item_classes."""
    n = len(scores)
    width = labels.shape[1]
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n)
    ys, xs = np.divmod(np.arange(flat.size), width)
    safe = np.maximum(area, 1)
    centroid = np.stack([np.bincount(flat, xs + 0.5, n) / safe, np.bincount(flat, ys + 0.5, n) / safe], 1)
    return ScanPrediction(labels.astype(np.int32), scores.astype(np.float32), scored.astype(bool), area,
                          segment_boxes(labels, n).astype(np.float32), centroid.astype(np.float32),
                          flagged, scan_score, item_boxes, item_scores, item_masks, **items)


