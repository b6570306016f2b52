"""Item crops at native pitch with air outside the mask, and matching found items to true ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.items.crops import mask_box, masked
from models.items.matching import iou_matrix, match_items


def test_mask_box_grows_by_the_margin_and_stays_inside_the_scan():
    mask = np.zeros((20, 30), bool)
    mask[5:9, 2:12] = True
    box = mask_box(mask, margin=3)
    assert (box.x0, box.y0, box.x1, box.y1) == (0, 2, 15, 12)
    assert (box.height, box.width) == (10, 15)
    with pytest.raises(ValueError, match="no pixel"):
        mask_box(np.zeros((4, 4), bool))


def test_masked_sets_each_channel_to_its_air_value_outside_the_mask():
    image = torch.full((3, 4, 4), 0.3)
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[1:3, 1:3] = True
    out = masked(image, mask, (1.0, 1.0, 0.0))
    assert torch.all(out[:, 1:3, 1:3] == 0.3)
    assert torch.all(out[:2, 0] == 1.0) and torch.all(out[2, 0] == 0.0)


def test_matching_is_one_to_one_at_iou_half():
    objects = np.zeros((10, 10), np.int64)
    objects[0:4, 0:4] = 1
    objects[6:10, 6:10] = 2
    exact = objects == 1
    half = np.zeros((10, 10), bool)
    half[6:10, 6:8] = True  # IoU 0.5 with item 2
    tiny = np.zeros((10, 10), bool)
    tiny[0:1, 0:1] = True  # overlaps item 1, IoU 1/16
    spurious = np.zeros((10, 10), bool)
    spurious[5, 0:3] = True
    found = [exact, half, tiny, spurious]
    np.testing.assert_allclose(iou_matrix(found, objects, 2)[:, 0], [1.0, 0.0, 1 / 16, 0.0])
    match = match_items(found, objects, 2)
    assert match.truth_of_found.tolist() == [0, 1, -1, -1]
    assert match.found_truth.tolist() == [True, True]
    # a duplicate of item 1 is not a second match: it is spurious
    assert match_items([exact, exact], objects, 2).truth_of_found.tolist() == [0, -1]
