"""Item evidence of hand-made items, and the item head fitted on it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.items.evidence import EVIDENCE_FEATURES, ItemHead, item_evidence
from models.metrics import auroc


def _item():
    mask = np.zeros((60, 100), bool)
    mask[10:50, 10:90] = True  # 40 × 80 px: the long axis runs along x
    labels = np.full((60, 100), -1)
    labels[10:50, 10:50], labels[10:50, 50:90] = 0, 1
    logits = np.full((60, 100), -5.0, np.float32)
    logits[20:24, 80:84] = 3.0  # a screw-sized blob near the right end
    logits[40:43, 15:18] = 2.0  # and another, near the left end
    return labels, mask, logits


def test_evidence_reads_scores_place_blobs_and_size():
    labels, mask, logits = _item()
    evidence = item_evidence(labels, np.array([0.2, 0.95]), np.array([1600.0, 1600.0]), mask, logits)
    f = dict(zip(EVIDENCE_FEATURES, evidence.tolist(), strict=True))
    assert evidence.dtype == np.float32 and np.isfinite(evidence).all()
    assert f["top1_logit"] == pytest.approx(math.log(0.95 / 0.05), rel=1e-5)
    assert f["max_pixel_logit"] == 3.0 and f["n_over_0.9"] == pytest.approx(math.log(2))
    assert f["area_over_half"] == 0.5
    assert f["top_u"] == pytest.approx(20 / 39.5, rel=1e-3) and f["top_v"] < 0.05  # right half's centre
    assert f["n_blobs"] == f["n_small_blobs"] == pytest.approx(math.log(3))  # two blobs, both ≤ 40 px
    assert f["largest_blob"] == pytest.approx(math.log(17))
    assert f["length"] > f["width"] and f["aspect"] == pytest.approx(39 / 79, rel=1e-3)


def test_evidence_without_pixel_logits_or_superpixels_is_finite():
    labels, mask, _ = _item()
    assert np.isfinite(item_evidence(labels, np.array([0.3, 0.4]), np.array([5.0, 5.0]), mask, None)).all()
    empty = item_evidence(np.full((60, 100), -1), np.zeros(0), np.zeros(0), mask, None)
    assert np.isfinite(empty).all()


def test_the_item_head_learns_what_separates_items():
    rng = np.random.default_rng(0)
    labels = rng.random(400) < 0.4
    evidence = rng.normal(size=(400, len(EVIDENCE_FEATURES))).astype(np.float32)
    evidence[:, 12] += 2.5 * labels  # anomalous items have more blobs
    head = ItemHead()
    assert not bool(head.fitted)
    head.fit(evidence[:300], labels[:300])
    probs = head(torch.from_numpy(evidence[300:])).detach().numpy()
    assert bool(head.fitted) and auroc(labels[300:], probs) > 0.9
    assert np.argmax(np.abs(head.linear.weight.detach().numpy()[0])) == 12
    with pytest.raises(ValueError, match="anomalous and benign"):
        ItemHead().fit(evidence, np.zeros(400, bool))


def test_dense_blobs_count_screw_like_spots_rods_and_where_they_lie():
    _, mask, _ = _item()
    attenuation = np.full((60, 100), 0.5, np.float32)  # the item's own plain body
    attenuation[12:15, 20:23] += 0.6  # an upright screw near the outline
    attenuation[30:33, 40:43] += 0.6  # another, inside
    attenuation[28:30, 60:72] += 0.4  # a screw lying flat: a rod
    attenuation[10:50, 14:16] += 2.0  # a long dense cable: no screw
    zeff = np.full((60, 100), 8.0, np.float32)
    zeff[30:33, 40:43] = 24.0
    evidence = item_evidence(np.full((60, 100), -1), np.zeros(0), np.zeros(0), mask, None, attenuation, zeff)
    f = dict(zip(EVIDENCE_FEATURES, evidence.tolist(), strict=True))
    assert f["n_dense_blobs"] == pytest.approx(math.log(4))  # three screws
    assert f["n_dense_rods"] == pytest.approx(math.log(2))
    assert f["n_inner_dense_blobs"] == pytest.approx(math.log(3))  # the one by the outline is not
    assert f["max_blob_contrast"] == pytest.approx(0.6, abs=1e-5)
    assert f["max_blob_z"] == pytest.approx(24 / 30)
    assert f["dense_blobs_per_area"] == pytest.approx(3e4 / mask.sum())
    without = item_evidence(np.full((60, 100), -1), np.zeros(0), np.zeros(0), mask, None)
    assert not without[-6:].any()
