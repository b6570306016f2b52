"""benchmarks.item_misses: a missed true item is classed by how the found items cover it."""

from __future__ import annotations

import numpy as np

from benchmarks.item_misses import miss_class


def _box(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    mask = np.zeros((40, 40), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_each_way_of_missing_an_item_gets_its_class():
    objects = np.zeros((40, 40), np.int64)
    objects[_box(0, 20, 0, 20)] = 1
    objects[_box(0, 20, 20, 40)] = 2  # touches item 1
    truth = objects == 1
    assert miss_class(truth, [_box(0, 20, 0, 40)], objects) == "merged"  # both items as one
    assert miss_class(truth, [_box(0, 10, 0, 20), _box(10, 20, 0, 20)], objects) == "split"
    assert miss_class(truth, [_box(0, 8, 0, 20)], objects) == "partial"  # 40 % of it
    assert miss_class(truth, [_box(0, 30, 0, 20)], objects) == "loose"  # all of it and air below
    assert miss_class(truth, [_box(30, 40, 30, 40)], objects) == "none"
    assert miss_class(truth, [], objects) == "none"
