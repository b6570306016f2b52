"""Found items against true items: IoU, one-to-one matching at IoU ≥ 0.5, recall and mask IoU."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MATCH_IOU = 0.5  # a found item is the true item it overlaps by at least this IoU


@dataclass(frozen=True)
class ItemMatch:
    """For each found item, the index of the true item it is (−1: none, a spurious item); for each
    true item, the IoU of the found item matched to it (0 when missed)."""

    truth_of_found: np.ndarray  # (n_found,) int
    iou_of_truth: np.ndarray  # (n_truth,) float

    @property
    def found_truth(self) -> np.ndarray:
        """(n_truth,) bool: true items some found item matches."""
        return self.iou_of_truth >= MATCH_IOU


def iou_matrix(found: list[np.ndarray], objects: np.ndarray, n_objects: int) -> np.ndarray:
    """(n_found, n_objects) IoU of every found mask (H, W bool) with every true item 1..n."""
    truth_area = np.bincount(objects.ravel(), minlength=n_objects + 1)[1:n_objects + 1]
    out = np.zeros((len(found), n_objects))
    for i, mask in enumerate(found):
        inter = np.bincount(objects[mask], minlength=n_objects + 1)[1:n_objects + 1]
        union = truth_area + int(mask.sum()) - inter
        out[i] = inter / np.maximum(union, 1)
    return out


def match_items(found: list[np.ndarray], objects: np.ndarray, n_objects: int,
                min_iou: float = MATCH_IOU) -> ItemMatch:
    """Greedy one-to-one matching by decreasing IoU, pairs below ``min_iou`` left apart."""
    iou = iou_matrix(found, objects, n_objects)
    truth_of_found = np.full(len(found), -1, np.int64)
    iou_of_truth = np.zeros(n_objects)
    order = np.argsort(-iou, axis=None, kind="stable")
    for flat in order:
        f, t = divmod(int(flat), n_objects)
        if iou[f, t] < min_iou:
            break
        if truth_of_found[f] < 0 and iou_of_truth[t] == 0:
            truth_of_found[f], iou_of_truth[t] = t, iou[f, t]
    return ItemMatch(truth_of_found, iou_of_truth)
