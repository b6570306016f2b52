"""Item-score rules on hand-made superpixel probabilities."""

from __future__ import annotations

import math

import pytest
import torch

from models.catalog import ITEM_SCORES
from models.item_scores import item_score

PROBS = torch.tensor([0.9, 0.2, 0.1, 0.6, 0.5])
AREA = torch.tensor([10.0, 50.0, 40.0, 20.0, 30.0])
EVIDENCE = -math.log(0.1 * 0.8 * 0.9 * 0.4 * 0.5)


@pytest.mark.parametrize(("rule", "expected"), [
    ("max", 0.9),
    ("top3_mean", (0.9 + 0.6 + 0.5) / 3),
    ("top10_mean", PROBS.mean().item()),  # fewer superpixels than k: all of them
    ("noisy_or", 1 - 0.1 * 0.8 * 0.9 * 0.4 * 0.5),
    ("evidence", EVIDENCE / (1 + EVIDENCE)),
    ("contrast", 0.9),  # the median 0.5 has logit 0: sigmoid(logit 0.9 − 0)
])
def test_rules_on_hand_made_scores(rule, expected):
    assert item_score(rule, PROBS, AREA) == pytest.approx(expected, rel=1e-6)


def test_an_item_without_superpixels_scores_zero_under_every_rule():
    for rule in ITEM_SCORES:
        assert item_score(rule, torch.zeros(0), torch.zeros(0)) == 0.0


def test_noisy_or_stays_finite_and_ordered_for_certain_superpixels():
    assert item_score("noisy_or", torch.tensor([1.0, 0.5]), torch.ones(2)) == pytest.approx(1.0)
    many_small = item_score("noisy_or", torch.full((200,), 0.01), torch.ones(200))
    assert 0.8 < many_small < 0.9  # 1 − 0.99²⁰⁰


def test_evidence_orders_the_items_noisy_or_ties_in_float32():
    fewer, more, area = torch.full((300,), 0.10), torch.full((300,), 0.12), torch.ones(300)
    assert item_score("noisy_or", fewer, area) == item_score("noisy_or", more, area) == 1.0
    assert item_score("evidence", fewer, area) < item_score("evidence", more, area) < 1.0


def test_contrast_scores_an_outlier_above_a_uniformly_suspicious_item():
    uniform = torch.full((50,), 0.8)
    outlier = torch.cat([torch.full((49,), 0.05), torch.tensor([0.6])])
    assert item_score("contrast", uniform, torch.ones(50)) == pytest.approx(0.5)
    assert item_score("contrast", outlier, torch.ones(50)) > 0.9


def test_unknown_rule_names_the_valid_ones():
    with pytest.raises(KeyError, match="top3_mean"):
        item_score("mean", PROBS, AREA)


def test_the_learned_rule_is_the_item_heads_score_and_needs_one():
    assert item_score("learned", PROBS, AREA, learned=0.25) == 0.25
    with pytest.raises(ValueError, match="fitted item head"):
        item_score("learned", PROBS, AREA)
