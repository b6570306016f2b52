"""The tile sampler: its cost does not grow with the set, random tiles draw items alike or by area,
frame tiles are the item's frame, and the gain jitter leaves effective Z alone."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
import torch

from models.items.frame import DISTANCE_SCALE, item_frame
from scans.modalities import modality_air, modality_thickness
from study.config import AugmentConfig
from study.items.data import ItemSet
from study.items.tiles import TileSampler, jittered


def _item_set(n: int, side: int = 160) -> ItemSet:
    """``n`` identical items of side² px: an ellipse-ish mask, a 6×6 anomaly inside each."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[:side, :side]
    mask = ((ys - side / 2) / (side * 0.45)) ** 2 + ((xs - side / 2) / (side * 0.3)) ** 2 <= 1
    anomaly = np.zeros((side, side), bool)
    anomaly[side // 2:side // 2 + 6, side // 2:side // 2 + 6] = True
    px = side * side
    return ItemSet(np.array(["s"]), np.array([True]), np.zeros(n, np.int64), np.zeros((n, 4), np.int64),
                   np.tile([side, side], (n, 1)), np.arange(n + 1, dtype=np.int64) * px,
                   rng.random((3, n * px)).astype(np.float16), np.tile(mask.ravel(), n),
                   np.tile(anomaly.ravel(), n), np.zeros(n * px, np.int16), np.ones(n, bool),
                   np.full(n, "blade"), np.full(n, "laptop"), np.zeros(0, np.int64), np.zeros(0, bool),
                   np.zeros(0, np.str_), np.full(n, "laptop-007"), np.zeros(0, np.str_), np.zeros(0, np.str_),
                   np.full(n, "laptop"))


class _Counted(np.ndarray):
    """An array that adds to ``READ`` the elements each index or numpy operation of it reads."""

    READ: ClassVar[list[int]] = [0]

    def __getitem__(self, key):
        out = np.ndarray.__getitem__(self.view(np.ndarray), key)
        _Counted.READ[0] += np.size(out)
        return out

    @staticmethod
    def _plain(values):
        read = sum(v.size for v in values if isinstance(v, _Counted))
        _Counted.READ[0] += read
        return [v.view(np.ndarray) if isinstance(v, _Counted) else v for v in values]

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return getattr(ufunc, method)(*self._plain(inputs), **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return func(*self._plain(args), **kwargs)


def _elements_read_per_sample(items: ItemSet) -> int:
    """The elements of the set's arrays (pixels and per-item) and of the sampler's indexes over
    them that one sample of 64 tiles reads: the work, counted, not timed."""
    sampler = TileSampler(items, 32, (0.0, 0.0, 0.0), seed=0)
    for owner in (sampler.items, sampler):
        for name, value in vars(owner).items():
            if isinstance(value, np.ndarray) and value.size > 1:
                setattr(owner, name, value.view(_Counted))
    _Counted.READ[0] = 0
    sampler.sample(64, positive=0.5, hard=0.0)
    return _Counted.READ[0]


def test_a_samples_cost_does_not_grow_with_the_training_set():
    small, large = _item_set(8), _item_set(400)  # 0.2 M against 10 M pixels
    read = _elements_read_per_sample(small)  # about 64 items' worth: a tile's item, its channels and labels
    assert 64 * 32 * 32 < read < 64 * 160 * 160 * 8
    # a whole-set pass per anomaly-centred tile (32 of them) would read the large set's 10 M pixels 32 times
    assert _elements_read_per_sample(large) < 1.2 * read
    counted = large.mask.view(_Counted)
    _Counted.READ[0] = 0
    np.flatnonzero(counted & large.anomaly)  # the count sees such a pass
    assert _Counted.READ[0] >= large.mask.size


def test_random_tiles_draw_items_alike_or_by_their_area():
    items = _item_set(4)
    px = 160 * 160
    small = np.zeros(px, bool)
    small[:px // 10] = items.mask[:px // 10]  # item 0 keeps its top rows only: a sixth of the others' area
    items.mask[:px] = small
    area = items.item_px()
    counts = {}
    for negatives in ("uniform", "area"):
        sampler = TileSampler(items, 32, (0.0, 0.0, 0.0), seed=0, negatives=negatives)
        _, drawn = sampler.sample(4000, positive=0.0, hard=0.0)
        counts[negatives] = np.bincount(drawn, minlength=4) / 4000
    assert np.allclose(counts["uniform"], 0.25, atol=0.03)
    assert np.allclose(counts["area"], area / area.sum(), atol=0.03)
    assert counts["area"][0] < counts["uniform"][0] / 3
    with pytest.raises(ValueError, match="negatives must be one of uniform, area, got 'pixels'"):
        TileSampler(items, 32, (0.0, 0.0, 0.0), negatives="pixels")


def test_frame_tiles_are_windows_of_the_items_frame():
    items = _item_set(2, side=96)
    sampler = TileSampler(items, 32, (0.0, 0.0, 0.0), seed=0, frame=True)
    mask = items.mask[:96 * 96].reshape(96, 96)
    whole = item_frame(mask)
    _, tile_mask, _, _, frame = sampler._tile(1, 40, 50)  # inside the crop
    np.testing.assert_array_equal(tile_mask, mask[24:56, 34:66])
    np.testing.assert_allclose(frame, whole[:, 24:56, 34:66], atol=1e-6)
    _, _, _, _, edge = sampler._tile(0, 5, 5)  # past the crop's corner: far outside, coordinates go on
    assert (edge[2, :11, :11] == -1.0).all() and edge[2, 20, 20] == whole[2, 9, 9]
    assert edge[2].max() <= 48 / DISTANCE_SCALE
    tiles, _ = sampler.sample(4, positive=0.5, hard=0.0)
    assert tiles.frames.shape == (4, 5, 32, 32)


def test_the_gain_jitter_leaves_effective_z_alone():
    images = torch.full((64, 3, 8, 8), 0.5)
    out = jittered(images, AugmentConfig(gain=0.2, noise=0.0), modality_air("hlz_log"),
                   torch.Generator().manual_seed(0), modality_thickness("hlz_log"))
    assert torch.equal(out[:, 2], images[:, 2])
    assert out[:, 0].std() > 0.01 and torch.equal(out[:, 0], out[:, 1])
