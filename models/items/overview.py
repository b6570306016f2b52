"""The whole item in view: each item shrunk into a small square, and a network that turns it into a
modulation of every pixel's features (FiLM), so that a tile's decision knows the item it lies in."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

OVERVIEW_PX = 64  # the side of the square each whole item is shrunk into
OVERVIEW_FEATURES = 32  # what the overview network says of an item


def item_overview(image: torch.Tensor, mask: torch.Tensor, air: tuple[float, ...],
                  size: int = OVERVIEW_PX) -> torch.Tensor:
    """(C + 1, size, size) float32: the item alone (each channel less its air value, 0 outside
    the mask) and its mask, its mask's box shrunk as a whole (longer side to ``size``, the aspect
    kept) and centred; from an unmasked (C, h, w) crop and its (h, w) bool mask."""
    channels = image.shape[0]
    out = torch.zeros(channels + 1, size, size, device=image.device)
    rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
    if rows.numel() == 0:
        return out
    box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    inside = mask[box][None]
    air_of = torch.as_tensor(air, dtype=torch.float32, device=image.device).view(-1, 1, 1)
    item = torch.cat([torch.where(inside, image[(slice(None), *box)].float() - air_of, 0.0), inside.float()])
    h, w = item.shape[-2:]
    scale = size / max(h, w)
    nh, nw = max(1, min(size, round(h * scale))), max(1, min(size, round(w * scale)))
    mode = "area" if scale <= 1 else "bilinear"
    small = F.interpolate(item[None], size=(nh, nw), mode=mode, **({} if mode == "area" else
                                                                 {"align_corners": False}))[0]
    top, left = (size - nh) // 2, (size - nw) // 2
    out[:, top:top + nh, left:left + nw] = small
    return out


def item_overviews(images: torch.Tensor, masks: torch.Tensor, air: tuple[float, ...]) -> torch.Tensor:
    """(B, C + 1, OVERVIEW_PX, OVERVIEW_PX): ``item_overview`` of each (C, h, w) image of a batch."""
    return torch.stack([item_overview(image, mask, air) for image, mask in zip(images, masks, strict=True)])


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class ItemOverview(nn.Module):
    """A small CNN over an item's overview (four stride-2 blocks, 64² → 4², pooled) whose
    OVERVIEW_FEATURES give every channel of a ``width``-wide feature map a scale and a shift:
    ``features · (1 + γ) + β``. γ and β start at zero: a new branch leaves the features as they
    were until training finds a use for it."""

    def __init__(self, in_channels: int, width: int):
        super().__init__()
        self.net = nn.Sequential(_block(in_channels, 16), _block(16, 32), _block(32, 64), _block(64, 64),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, OVERVIEW_FEATURES),
                                 nn.ReLU(inplace=True))
        self.film = nn.Linear(OVERVIEW_FEATURES, 2 * width)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, features: torch.Tensor, overviews: torch.Tensor) -> torch.Tensor:
        """(B, width, H, W) features modulated by each one's (B, C + 1, s, s) item overview."""
        scale, shift = self.film(self.net(overviews.to(features.dtype))).chunk(2, dim=1)
        return features * (1 + scale[..., None, None]) + shift[..., None, None]
