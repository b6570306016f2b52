"""The item stage of a study: one item finder trained on train scans, scored on val and test, and
its found items cut for every trial (never trained once per trial)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from models.items.finders import FoundItems
from models.items.matching import match_items


@dataclass(frozen=True)
class FinderRecipe:
    """``steps`` AdamW steps at ``lr`` (cosine decay) on random batches of ``batch`` prepared
    scans, with random 90° turns and flips."""

    steps: int = 400
    batch: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4


def train_finder(finder: nn.Module, images: torch.Tensor, objects: torch.Tensor, recipe: FinderRecipe,
                 device: torch.device, seed: int = 0) -> list[float]:
    """Fit ``finder`` on prepared scans (see the finder's ``prepare``); the loss of every step."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(finder.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.lr, total_steps=recipe.steps,
                                                   pct_start=0.1)
    finder.train()
    losses = []
    for _ in range(recipe.steps):
        index = torch.randint(0, len(images), (min(recipe.batch, len(images)),), generator=generator)
        x, y = images[index].float().to(device), objects[index].long().to(device)
        turns, flip = (int(v) for v in torch.randint(0, 4, (2,), generator=generator))
        x, y = torch.rot90(x, turns, (-2, -1)), torch.rot90(y, turns, (-2, -1))
        if flip % 2:
            x, y = x.flip(-1), y.flip(-1)
        loss = finder.loss(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses


@dataclass
class FinderScore:
    """How well a finder found a split's items: recall at IoU ≥ 0.5, mean mask IoU of the matched
    items, found items matching no true item, and its wall time per scan."""

    n_true: int
    n_found: int
    recall: float | None
    mask_iou: float | None
    spurious: int
    seconds_per_scan: float

    def as_dict(self, prefix: str = "") -> dict:
        return {f"{prefix}{k}": v for k, v in self.__dict__.items()}


@torch.no_grad()
def find_and_score(finder: nn.Module, scans: list, images: list[np.ndarray], device: torch.device
                   ) -> tuple[list[list[np.ndarray]], FinderScore]:
    """The items ``finder`` finds in each scan (its full-resolution input image, C×H×W) as masks,
    and how they match the scans' true items."""
    finder.eval()
    masks, ious, n_true, n_found, spurious = [], [], 0, 0, 0
    start = time.perf_counter()
    for scan, image in zip(scans, images, strict=True):
        found: FoundItems = finder.find(torch.from_numpy(np.asarray(image, np.float32))[None].to(device))[0]
        one = found.masks()
        masks.append(one)
        match = match_items(one, scan.objects, scan.n_objects)
        ious.extend(match.iou_of_truth[match.found_truth].tolist())
        n_true, n_found = n_true + scan.n_objects, n_found + len(one)
        spurious += int((match.truth_of_found < 0).sum())
    elapsed = (time.perf_counter() - start) / max(len(scans), 1)
    return masks, FinderScore(n_true, n_found, len(ious) / n_true if n_true else None,
                              float(np.mean(ious)) if ious else None, spurious, elapsed)
