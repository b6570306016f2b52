"""Item-score rules (models.catalog's ITEM_SCORES names them): how an item's superpixel
probabilities become one anomaly score."""

from __future__ import annotations

from collections.abc import Callable

import torch

from models.catalog import ITEM_SCORES

# (probabilities of one item's superpixels, their areas in pixels) -> the item's score
ItemScoreRule = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _top_mean(k: int) -> ItemScoreRule:
    def rule(probs: torch.Tensor, area: torch.Tensor) -> torch.Tensor:
        return probs.topk(min(k, probs.numel())).values.mean()

    rule.__doc__ = f"The mean of the {k} highest superpixel probabilities."
    return rule


def max_rule(probs: torch.Tensor, area: torch.Tensor) -> torch.Tensor:
    """The highest superpixel probability (the paper's: an item is anomalous if any part is)."""
    return probs.max()


top3_mean_rule = _top_mean(3)
top10_mean_rule = _top_mean(10)


def noisy_or_rule(probs: torch.Tensor, area: torch.Tensor) -> torch.Tensor:
    """1 − Π(1 − p): the chance that at least one superpixel is anomalous, were they independent."""
    return -torch.expm1(torch.log1p(-probs.double().clamp(max=1 - 1e-12)).sum()).to(probs.dtype)


def evidence_rule(probs: torch.Tensor, area: torch.Tensor) -> torch.Tensor:
    """Noisy-or's order without its saturation: S / (1 + S) of the evidence S = −Σ log(1 − p), of
    which noisy-or is 1 − e^−S; over hundreds of superpixels S passes 17, where noisy-or rounds
    to 1 in float32 and ties every such item, while S / (1 + S) parts them (its logit is log S)."""
    total = -torch.log1p(-probs.double().clamp(max=1 - 1e-12)).sum()
    return (total / (1 + total)).to(probs.dtype)


def contrast_rule(probs: torch.Tensor, area: torch.Tensor) -> torch.Tensor:
    """How far the item's most suspicious superpixel stands out from its own parts: the sigmoid of
    its logit less the item's median superpixel logit (an item whose every part looks alike, however
    suspicious, scores 0.5; a lone outlier scores near 1)."""
    logits = torch.logit(probs.double().clamp(1e-12, 1 - 1e-12))
    return torch.sigmoid(logits.max() - logits.median()).to(probs.dtype)


def learned_rule(probs: torch.Tensor, area: torch.Tensor) -> torch.Tensor:
    """The model's learned item head on the item's evidence (models.items.evidence): given to
    ``item_score`` as ``learned``; only models with a fitted head have it."""
    raise ValueError("the 'learned' item score needs a model with a fitted item head")


def item_score(rule: str, probs: torch.Tensor, area: torch.Tensor, learned: float | None = None) -> float:
    """One item's score by ``rule``; 0 for an item with no superpixel (nothing to flag). The
    ``learned`` rule is the model's item head's probability, ``learned``."""
    if rule == "learned" and learned is not None:
        return float(learned)
    if probs.numel() == 0:
        return 0.0
    return float(ITEM_SCORES[rule](probs.float(), area.float()))
