"""Training tiles: balanced square tiles cut from item crops at native pitch, augmented as X-ray allows."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.items.crops import masked
from study.item_data import ItemSet

HARD_POOL = 512  # hard negatives remembered (the most recent)


@dataclass
class TileBatch:
    """(B, C, T, T) tiles masked to air, (B, T, T) item masks, anomaly and parts, and (B,) the
    pixel count of the item each tile was cut from."""

    images: torch.Tensor
    masks: torch.Tensor
    anomaly: torch.Tensor
    parts: torch.Tensor
    item_px: torch.Tensor

    def to(self, device: torch.device) -> TileBatch:
        return TileBatch(*(t.to(device) for t in (self.images, self.masks, self.anomaly, self.parts,
                                                     self.item_px)))


@dataclass(frozen=True)
class Augment:
    """What X-ray allows: 90° rotations and flips (a scan has no up), a gain jitter of the
    attenuation (x → air + (x − air)·g, g within ±``gain``), Gaussian noise of ``noise`` on the
    item's pixels, and the item mask grown or shrunk by up to ``mask_px`` pixels (found masks are
    never exact)."""

    rotate: bool = True
    gain: float = 0.05
    noise: float = 0.01
    mask_px: int = 2


class TileSampler:
    """Tiles of ``size``² from the items of a set: a share centred (±size/4) on anomaly pixels, a
    share on hard negatives (benign places a model scored high, see ``remember``), the rest on
    random pixels of random items."""

    def __init__(self, items: ItemSet, size: int, fill: tuple[float, ...], seed: int = 0):
        if len(items) == 0:
            raise ValueError("no items to cut training tiles from")
        self.items, self.size = items, size
        self.fill = np.asarray(fill, np.float16).reshape(-1, 1, 1)
        self.item_px = items.item_px()
        self.rng = np.random.default_rng(seed)
        anomaly_px = np.add.reduceat(items.anomaly & items.mask, items.offsets[:-1])
        self.positive = np.flatnonzero(anomaly_px > 0)
        self.hard: deque[tuple[int, int, int]] = deque(maxlen=HARD_POOL)

    def remember(self, item: int, y: int, x: int) -> None:
        """A benign place of ``item`` (pixel y, x of its crop) to train on as a hard negative."""
        self.hard.append((item, y, x))

    def _random_pixel(self, item: int, where: np.ndarray) -> tuple[int, int]:
        h, w = self.items.shapes[item]
        start = self.items.offsets[item]
        flat = np.flatnonzero(where[start:start + h * w])
        pick = int(flat[self.rng.integers(flat.size)])
        return divmod(pick, int(w))

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
        return image, mask, anomaly, parts

    def sample(self, n: int, positive: float, hard: float) -> tuple[TileBatch, np.ndarray]:
        """``n`` tiles (unaugmented, not yet masked) and the item each was cut from."""
        kinds = self.rng.random(n)
        picks = []
        for u in kinds:
            if u < positive and self.positive.size:
                item = int(self.positive[self.rng.integers(self.positive.size)])
                cy, cx = self._random_pixel(item, self.items.anomaly & self.items.mask)
                jitter = self.rng.integers(-self.size // 4, self.size // 4 + 1, 2)
                picks.append((item, cy + int(jitter[0]), cx + int(jitter[1])))
            elif u < positive + hard and self.hard:
                picks.append(self.hard[int(self.rng.integers(len(self.hard)))])
            else:
                item = int(self.rng.integers(len(self.items)))
                picks.append((item, *self._random_pixel(item, self.items.mask)))
        tiles = [self._tile(*p) for p in picks]
        stacked = [torch.from_numpy(np.stack(column)) for column in zip(*tiles, strict=True)]
        items = np.array([p[0] for p in picks])
        batch = TileBatch(stacked[0].float(), stacked[1], stacked[2], stacked[3],
                          torch.from_numpy(self.item_px[items]).float())
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


def jittered(images: torch.Tensor, how: Augment, fill: tuple[float, ...],
             generator: torch.Generator) -> torch.Tensor:
    """(B, C, T, T) images with each tile's attenuation gain-jittered about air and Gaussian noise added."""
    air = torch.as_tensor(fill, dtype=images.dtype).view(1, -1, 1, 1)
    if how.gain:
        gain = 1 + (torch.rand(images.shape[0], 1, 1, 1, generator=generator) * 2 - 1) * how.gain
        images = air + (images - air) * gain
    if how.noise:
        images = images + torch.randn(images.shape, generator=generator) * how.noise
    return images


def augment(batch: TileBatch, how: Augment, fill: tuple[float, ...], generator: torch.Generator) -> TileBatch:
    """A randomly rotated, flipped, gain-jittered, noised copy with jittered masks, the pixels
    outside each mask set to air."""
    images, masks, anomaly, parts = batch.images, batch.masks, batch.anomaly, batch.parts
    b = images.shape[0]
    if how.rotate:
        images, masks, anomaly, parts = turned_alike([images, masks, anomaly, parts], generator)
    images = jittered(images, how, fill, generator)
    if how.mask_px:
        masks = _grow(masks, torch.randint(-how.mask_px, how.mask_px + 1, (b,), generator=generator))
    return TileBatch(masked(images, masks, fill), masks, anomaly, parts, batch.item_px)


def augment_crop(image: torch.Tensor, mask: torch.Tensor, how: Augment, fill: tuple[float, ...],
                 generator: torch.Generator) -> torch.Tensor:
    """One (C, h, w) item crop (unmasked) and its (h, w) mask → a randomly turned, flipped,
    gain-jittered, noised copy masked to air by a jittered mask (the object-level pipeline's)."""
    if how.rotate:
        turns, flip = (int(v) for v in torch.randint(0, 4, (2,), generator=generator))
        image, mask = torch.rot90(image, turns, (-2, -1)), torch.rot90(mask, turns, (-2, -1))
        if flip % 2:
            image, mask = image.flip(-1), mask.flip(-1)
    air = torch.as_tensor(fill, dtype=image.dtype).view(-1, 1, 1)
    if how.gain:
        image = air + (image - air) * (1 + (float(torch.rand(1, generator=generator)) * 2 - 1) * how.gain)
    if how.noise:
        image = image + torch.randn(image.shape, generator=generator) * how.noise
    if how.mask_px:
        px = torch.randint(-how.mask_px, how.mask_px + 1, (1,), generator=generator)
        mask = _grow(mask[None], px)[0]
    return masked(image, mask, fill)
