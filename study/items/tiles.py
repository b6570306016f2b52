"""Training tiles: balanced square tiles cut from item crops at native pitch, augmented as X-ray allows."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.items.frame import DISTANCE_CLIP, ItemAxes, frame_channels, stored_distance
from models.items.overview import item_overview
from study.config import AugmentConfig
from study.items.data import ItemSet

HARD_POOL = 512  # hard negatives remembered (the most recent)
NEGATIVES = ("uniform", "area")  # how random tiles draw their item: alike, or by its pixel count


@dataclass
class TileBatch:
    """(B, C, T, T) tiles as scanned (not yet masked), (B, T, T) item masks, anomaly and parts, (B,)
    the pixel count of the item each tile was cut from, and (B, FRAME_CHANNELS, T, T) the item's
    frame channels when the sampler cuts them."""

    images: torch.Tensor
    masks: torch.Tensor
    anomaly: torch.Tensor
    parts: torch.Tensor
    item_px: torch.Tensor
    frames: torch.Tensor | None = None
    overviews: torch.Tensor | None = None  # (B, C + 1, s, s): the whole item each tile was cut from
    item_class: torch.Tensor | None = None  # (B,) long: the class index of each tile's item

    def to(self, device: torch.device) -> TileBatch:
        return TileBatch(*(None if t is None else t.to(device) for t in (
            self.images, self.masks, self.anomaly, self.parts, self.item_px, self.frames, self.overviews,
            self.item_class)))


class TileSampler:
    """Tiles of ``size``² from the items of a set: a share centred (±size/4) on anomaly pixels, a
    share on hard negatives (benign places a model scored high, see ``remember``), the rest on
    random pixels of random items (``negatives``: items drawn alike, or by their area, so that every
    item pixel is drawn alike and large items' look-alikes are seen as often as they occur); with
    ``frame`` each tile's item-frame channels beside, with ``overview`` its whole item shrunk
    (models.items.overview, float16, made once an item and kept), with ``classes`` (each item's class
    index) the class of each tile's item. A sample costs the same whatever
    the set's size: the anomaly pixels are indexed and every item's frame (its axes and distances to
    the outline, int8) computed once, here."""

    def __init__(self, items: ItemSet, size: int, fill: tuple[float, ...], seed: int = 0,
                 frame: bool = False, overview: tuple[float, ...] | None = None,
                 negatives: str = "uniform", classes: torch.Tensor | None = None):
        if len(items) == 0:
            raise ValueError("no items to cut training tiles from")
        if negatives not in NEGATIVES:
            raise ValueError(f"negatives must be one of {', '.join(NEGATIVES)}, got {negatives!r}")
        if classes is not None and len(classes) != len(items):
            raise ValueError(f"{len(classes)} item classes for {len(items)} items")
        self.items, self.size, self.frame, self.classes = items, size, frame, classes
        self.fill = np.asarray(fill, np.float16).reshape(-1, 1, 1)
        self.item_px = items.item_px()
        # the random tiles' items: by area, an item is drawn where a uniform draw falls in its share
        area = negatives == "area"
        self.area_cdf = np.cumsum(self.item_px) / max(int(self.item_px.sum()), 1) if area else None
        self.rng = np.random.default_rng(seed)
        # flat indices of every anomaly pixel inside its item's mask, in item order
        self.anomaly_px = np.flatnonzero(items.anomaly & items.mask)
        self.anomaly_start = np.searchsorted(self.anomaly_px, items.offsets)
        self.positive = np.flatnonzero(np.diff(self.anomaly_start) > 0)
        self.hard: deque[tuple[int, int, int]] = deque(maxlen=HARD_POOL)
        self.frames = [self._frame_of(i) for i in range(len(items))] if frame else []
        self.overview_air = overview  # the modality's air values, when tiles carry overviews
        self.overviews: dict[int, torch.Tensor] = {}

    def remember(self, item: int, y: int, x: int) -> None:
        """A benign place of ``item`` (pixel y, x of its crop) to train on as a hard negative."""
        self.hard.append((item, y, x))

    def _item_mask(self, item: int) -> np.ndarray:
        h, w = (int(v) for v in self.items.shapes[item])
        start = self.items.offsets[item]
        return self.items.mask[start:start + h * w].reshape(h, w)

    def _random_pixel(self, item: int) -> tuple[int, int]:
        flat = np.flatnonzero(self._item_mask(item))
        return divmod(int(flat[self.rng.integers(flat.size)]), int(self.items.shapes[item][1]))

    def _random_item(self) -> int:
        if self.area_cdf is None:
            return int(self.rng.integers(len(self.items)))
        return min(int(np.searchsorted(self.area_cdf, self.rng.random(), side="right")), len(self.items) - 1)

    def _anomaly_pixel(self, item: int) -> tuple[int, int]:
        pick = self.rng.integers(self.anomaly_start[item], self.anomaly_start[item + 1])
        return divmod(int(self.anomaly_px[pick] - self.items.offsets[item]), int(self.items.shapes[item][1]))

    def overview(self, item: int) -> torch.Tensor:
        """The item's overview (models.items.overview.item_overview of its stored crop)."""
        if item not in self.overviews:
            crop = self.items.crop(item)
            self.overviews[item] = item_overview(crop.image, crop.mask, self.overview_air).half()
        return self.overviews[item]

    def _frame_of(self, item: int) -> tuple[ItemAxes, np.ndarray]:
        mask = self._item_mask(item)
        return ItemAxes.of(mask), stored_distance(mask)

    def _tile(self, item: int, cy: int, cx: int) -> tuple[np.ndarray, ...]:
        h, w = (int(v) for v in self.items.shapes[item])
        start = self.items.offsets[item]
        size, half = self.size, self.size // 2
        y0, x0 = cy - half, cx - half
        ys, xs = slice(max(y0, 0), min(y0 + size, h)), slice(max(x0, 0), min(x0 + size, w))
        ty, tx = slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0)
        image = np.broadcast_to(self.fill, (self.fill.shape[0], size, size)).copy()
        mask = np.zeros((size, size), bool)
        anomaly = np.zeros((size, size), bool)
        parts = np.zeros((size, size), np.int64)
        image[:, ty, tx] = self.items.image[:, start:start + h * w].reshape(-1, h, w)[:, ys, xs]
        for out, flat in ((mask, self.items.mask), (anomaly, self.items.anomaly), (parts, self.items.parts)):
            out[ty, tx] = flat[start:start + h * w].reshape(h, w)[ys, xs]
        if not self.frame:
            return image, mask, anomaly, parts
        axes, stored = self.frames[item]
        distance = np.full((size, size), -DISTANCE_CLIP, np.float32)
        distance[ty, tx] = stored[ys, xs]
        frame = frame_channels(axes, distance, np.arange(y0, y0 + size), np.arange(x0, x0 + size))
        return image, mask, anomaly, parts, frame

    def sample(self, n: int, positive: float, hard: float) -> tuple[TileBatch, np.ndarray]:
        """``n`` tiles (unaugmented, not yet masked) and the item each was cut from."""
        kinds = self.rng.random(n)
        picks = []
        for u in kinds:
            if u < positive and self.positive.size:
                item = int(self.positive[self.rng.integers(self.positive.size)])
                cy, cx = self._anomaly_pixel(item)
                jitter = self.rng.integers(-self.size // 4, self.size // 4 + 1, 2)
                picks.append((item, cy + int(jitter[0]), cx + int(jitter[1])))
            elif u < positive + hard and self.hard:
                picks.append(self.hard[int(self.rng.integers(len(self.hard)))])
            else:
                item = self._random_item()
                picks.append((item, *self._random_pixel(item)))
        tiles = [self._tile(*p) for p in picks]
        stacked = [torch.from_numpy(np.stack(column)) for column in zip(*tiles, strict=True)]
        items = np.array([p[0] for p in picks])
        overviews = (torch.stack([self.overview(int(i)) for i in items]).float()
                     if self.overview_air is not None else None)
        batch = TileBatch(stacked[0].float(), stacked[1], stacked[2], stacked[3],
                          torch.from_numpy(self.item_px[items]).float(),
                          stacked[4] if self.frame else None, overviews,
                          None if self.classes is None else self.classes[torch.from_numpy(items)])
        return batch, items


def _grow(mask: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """Each (T, T) mask dilated (px > 0) or eroded (px < 0) by |px| pixels (square structuring)."""
    out = mask.clone()
    for i, r in enumerate(px.tolist()):
        if r:
            m = mask[i][None, None].float()
            k = 2 * abs(r) + 1
            grown = F.max_pool2d(m if r > 0 else 1 - m, k, stride=1, padding=abs(r))
            out[i] = (grown if r > 0 else 1 - grown)[0, 0] > 0.5
    return out


def turned_alike(tensors: list[torch.Tensor], generator: torch.Generator) -> list[torch.Tensor]:
    """Each tile of a batch turned by a random multiple of 90° and flipped at random, every
    tensor of ``tensors`` (each (B, ..., T, T)) alike."""
    b = tensors[0].shape[0]
    turns = torch.randint(0, 4, (b,), generator=generator).tolist()
    flips = torch.randint(0, 2, (b,), generator=generator).tolist()

    def turn(t: torch.Tensor, i: int) -> torch.Tensor:
        t = torch.rot90(t, turns[i], dims=(-2, -1))
        return t.flip(-1) if flips[i] else t

    return [torch.stack([turn(t[i], i) for i in range(b)]) for t in tensors]


def jittered(images: torch.Tensor, how: AugmentConfig, fill: tuple[float, ...], generator: torch.Generator,
             thickness: tuple[bool, ...] | None = None) -> torch.Tensor:
    """(B, C, T, T) images with each tile's attenuation gain-jittered about air (only the channels
    ``thickness`` marks, all when None) and Gaussian noise added."""
    air = torch.as_tensor(fill, dtype=images.dtype).view(1, -1, 1, 1)
    if how.gain:
        gain = 1 + (torch.rand(images.shape[0], 1, 1, 1, generator=generator) * 2 - 1) * how.gain
        if thickness is not None:
            gain = torch.where(torch.tensor(thickness).view(1, -1, 1, 1), gain, torch.ones(()))
        images = air + (images - air) * gain
    if how.noise:
        images = images + torch.randn(images.shape, generator=generator) * how.noise
    return images


def augment(batch: TileBatch, how: AugmentConfig, fill: tuple[float, ...], generator: torch.Generator,
            thickness: tuple[bool, ...] | None = None) -> TileBatch:
    """A randomly rotated, flipped, gain-jittered, noised copy with jittered masks (not yet
    masked: the model's item input decides what the pixels outside the mask read); frames and
    overviews turn with their tiles (item classes stay)."""
    extras = [t for t in (batch.frames, batch.overviews) if t is not None]
    tensors = [batch.images, batch.masks, batch.anomaly, batch.parts, *extras]
    b = batch.images.shape[0]
    if how.rotate:
        tensors = turned_alike(tensors, generator)
    images, masks, anomaly, parts = tensors[:4]
    turned = iter(tensors[4:])
    frames = next(turned) if batch.frames is not None else None
    overviews = next(turned) if batch.overviews is not None else None
    images = jittered(images, how, fill, generator, thickness)
    if how.mask_px:
        masks = _grow(masks, torch.randint(-how.mask_px, how.mask_px + 1, (b,), generator=generator))
    return TileBatch(images, masks, anomaly, parts, batch.item_px, frames, overviews, batch.item_class)


def augment_crop(image: torch.Tensor, mask: torch.Tensor, how: AugmentConfig, fill: tuple[float, ...],
                 generator: torch.Generator, thickness: tuple[bool, ...] | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """One (C, h, w) item crop (unmasked) and its (h, w) mask → a randomly turned, flipped,
    gain-jittered, noised copy and a jittered mask (the object-level pipeline's)."""
    if how.rotate:
        turns, flip = (int(v) for v in torch.randint(0, 4, (2,), generator=generator))
        image, mask = torch.rot90(image, turns, (-2, -1)), torch.rot90(mask, turns, (-2, -1))
        if flip % 2:
            image, mask = image.flip(-1), mask.flip(-1)
    image = jittered(image[None], how, fill, generator, thickness)[0]
    if how.mask_px:
        px = torch.randint(-how.mask_px, how.mask_px + 1, (1,), generator=generator)
        mask = _grow(mask[None], px)[0]
    return image, mask
