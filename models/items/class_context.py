"""An item's class as context: the class the item stage names it turned into a modulation of every
pixel's features (FiLM), so that a tile's decision knows whether it lies in a laptop or a kettle."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

UNKNOWN = 0  # the index of a class the model was not trained with (and of an item no one named)


class ClassContext(nn.Module):
    """A learned scale and shift of every channel of a ``width``-wide feature map per item class
    (``features · (1 + γ) + β``); index 0 stands for a class outside ``classes``. γ and β start at
    zero: a new branch leaves the features as they were until training finds a use for it."""

    def __init__(self, classes: Sequence[str], width: int):
        super().__init__()
        if not classes:
            raise ValueError("class context needs the item classes the item stage names; got none")
        if len(set(classes)) != len(classes) or any(not c for c in classes):
            raise ValueError(f"item classes must be distinct and named, got {list(classes)}")
        self.classes = tuple(classes)
        self._index = {name: i + 1 for i, name in enumerate(self.classes)}
        self.film = nn.Embedding(len(self.classes) + 1, 2 * width)
        nn.init.zeros_(self.film.weight)

    def index(self, names: Sequence[str]) -> torch.Tensor:
        """(B,) long: each name's index, UNKNOWN for a class this model was not trained with."""
        return torch.tensor([self._index.get(str(name), UNKNOWN) for name in names], dtype=torch.long)

    def forward(self, features: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """(B, width, H, W) features modulated by each one's item class index (B,)."""
        if classes.shape != features.shape[:1]:
            raise ValueError(f"{tuple(classes.shape)} item classes for {features.shape[0]} inputs")
        scale, shift = self.film(classes.to(features.device)).to(features.dtype).chunk(2, dim=1)
        return features * (1 + scale[..., None, None]) + shift[..., None, None]
