"""Item-frame channels: axes, distances and sizes of hand-made masks, and their turn with the crop."""

from __future__ import annotations

import math

import numpy as np
import torch

from models.catalog import ITEM_INPUTS
from models.items.frame import DISTANCE_SCALE, SIZE_SCALE, ItemAxes, item_frame, signed_distance


def _rectangle(height: int, width: int, length: float, breadth: float, angle_deg: float) -> np.ndarray:
    """A filled rectangle of ``length`` × ``breadth`` px centred in the image, its long side turned
    ``angle_deg`` from the image's rows axis (y)."""
    ys, xs = np.mgrid[:height, :width].astype(np.float64)
    ys, xs = ys - (height - 1) / 2, xs - (width - 1) / 2
    a = math.radians(angle_deg)
    along = ys * math.cos(a) + xs * math.sin(a)
    across = -ys * math.sin(a) + xs * math.cos(a)
    return (np.abs(along) <= length / 2) & (np.abs(across) <= breadth / 2)


def test_axes_distances_and_sizes_of_an_upright_rectangle():
    mask = np.zeros((80, 50), bool)
    mask[10:70, 15:35] = True  # 60 rows × 20 columns: the major axis runs along y
    axes = ItemAxes.of(mask)
    np.testing.assert_allclose(axes.centre, [39.5, 24.5])
    np.testing.assert_allclose(np.abs(axes.axes[0]), [1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(axes.half, [29.5, 9.5])
    frame = item_frame(mask)
    assert frame.shape == (5, 80, 50) and frame.dtype == np.float32
    u, v, distance, length, width = frame
    assert u[10, 24] == u[69, 25] == 1.0  # the far ends of the long axis
    assert v[40, 15] == v[40, 34] == 1.0  # the long sides
    assert abs(u[39, 24] - 0.5 / 29.5) < 1e-6 and u[39, 24] == u[40, 25]  # mirror pixels alike
    # signed distance in px / DISTANCE_SCALE: inside positive, outside negative, clipped to ±1
    assert distance[40, 25] == 10 / DISTANCE_SCALE  # 10 px from the nearest column outside
    assert distance[40, 5] == -10 / DISTANCE_SCALE
    assert distance[40, 14] < 0 < distance[40, 15]
    np.testing.assert_allclose(length, 59 / SIZE_SCALE)
    np.testing.assert_allclose(width, 19 / SIZE_SCALE)


def test_a_turned_item_has_turned_axes_and_the_same_sizes():
    upright = ItemAxes.of(_rectangle(160, 160, 100, 30, 0))
    turned = ItemAxes.of(_rectangle(160, 160, 100, 30, 30))
    angle = math.degrees(math.atan2(turned.axes[0, 1], turned.axes[0, 0])) % 180
    assert abs(angle - 30) < 1.0
    np.testing.assert_allclose(turned.half, upright.half, atol=1.0)  # within a pixel


def test_frame_channels_turn_with_the_crop():
    mask = _rectangle(90, 120, 70, 26, 25)
    mask[20:30, 40:60] = True  # not symmetric: a knob on one side
    frame = item_frame(mask)
    for turns in (1, 2, 3):
        turned = item_frame(np.rot90(mask, turns).copy())
        np.testing.assert_allclose(turned, np.rot90(frame, turns, axes=(1, 2)), atol=1e-4)
    np.testing.assert_allclose(item_frame(mask[:, ::-1].copy()), frame[:, :, ::-1], atol=1e-4)


def test_signed_distance_is_euclidean_and_signed():
    mask = np.zeros((9, 9), bool)
    mask[4, 4] = True
    d = signed_distance(mask)
    assert d[4, 4] == 1.0 and d[4, 6] == -2.0 and abs(d[0, 0] + math.hypot(4, 4)) < 1e-6


def test_the_frame_input_stacks_image_mask_and_frame():
    mask = torch.from_numpy(_rectangle(40, 40, 30, 12, 10))
    image = torch.rand(1, 3, 40, 40)
    inputs = ITEM_INPUTS["frame"].assemble(image, mask[None], (0.0, 0.0, 0.0))
    assert inputs.shape == (1, 3 + 1 + 5, 40, 40)
    assert torch.equal(inputs[0, :3], image[0])  # nothing masked: the context survives
    assert torch.equal(inputs[0, 3] > 0, mask)
    np.testing.assert_allclose(inputs[0, 4:].numpy(), item_frame(mask.numpy()))
    assert ITEM_INPUTS["frame"].fill((1.0, 1.0, 0.0)) == (1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
