"""Mask R-CNN baseline: targets from instance maps, a training step, prediction, weights files."""

from __future__ import annotations

import pytest
import torch
import torchvision

from models.maskrcnn import ObjectModel, build_detector
from models.maskrcnn.model import modality_stats
from models.maskrcnn.targets import detection_targets, instance_map


def test_targets_from_an_instance_map():
    objects = torch.zeros(10, 12, dtype=torch.int32)
    objects[2:5, 3:9] = 1
    objects[6:10, 0:2] = 4
    target = detection_targets(objects)
    assert target["boxes"].tolist() == [[3, 2, 9, 5], [0, 6, 2, 10]]
    assert target["labels"].tolist() == [1, 1]
    assert target["masks"].dtype == torch.uint8 and target["masks"].shape == (2, 10, 12)
    assert target["masks"][1].sum() == 8
    empty = detection_targets(torch.zeros(4, 4, dtype=torch.int32))
    assert empty["boxes"].shape == (0, 4) and empty["masks"].shape == (0, 4, 4)


def test_instance_map_keeps_confident_detections():
    masks = torch.zeros(3, 1, 4, 4)
    masks[0, 0, :2] = 0.9
    masks[1, 0, 1:] = 0.8  # row 1 is contested: detection 0 wins with 0.9
    masks[2, 0] = 1.0  # below the score threshold
    out = instance_map(masks, torch.tensor([0.9, 0.7, 0.1]), (4, 4), 0.5, 0.5)
    assert out.tolist() == [[1] * 4, [1] * 4, [2] * 4, [2] * 4]


def test_modality_stats_follow_the_channels():
    mean, std = modality_stats("pseudo+hlz")
    assert len(mean) == len(std) == 6


@pytest.fixture(scope="module")
def tiny_batch():
    torch.manual_seed(0)
    images = torch.rand(2, 1, 64, 64)
    objects = torch.zeros(2, 64, 64, dtype=torch.long)
    objects[0, 5:30, 5:40] = 1
    objects[0, 35:60, 20:50] = 2
    objects[1, 10:50, 10:50] = 1
    flags = [torch.tensor([True, False]), torch.tensor([False])]
    return images, objects, flags


def test_trains_a_step_and_predicts(tiny_batch):
    images, objects, flags = tiny_batch
    torch.manual_seed(0)
    model = ObjectModel(modality="high", backbone="tiny", crop_size=32, min_size=64, max_size=64)
    model.train()
    optimiser = torch.optim.SGD(model.parameters(), lr=2e-4, momentum=0.9)
    losses = model.loss(images, objects, flags)
    assert {"loss_classifier", "loss_mask", "loss_objectness", "loss_anomaly"} <= losses.keys()
    assert all(torch.isfinite(v) for v in losses.values())
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimiser.zero_grad()
    losses["total"].backward()
    optimiser.step()
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    # the step reached the backbone, the detector's heads and the anomaly classifier alike
    assert "detector.backbone.body.conv1.weight" in changed
    assert any(name.startswith("detector.roi_heads") for name in changed)
    assert any(name.startswith("detector.rpn") for name in changed)
    assert any(not name.startswith("detector.") for name in changed), sorted(changed)[:5]
    model.eval()
    model.score_threshold = 0.0  # an untrained detector is unsure: keep everything it finds
    out = model(images)
    assert out.scored.sum() == out.logits.shape[0] == out.detection_scores.shape[0]
    assert out.segments.labels.shape == (2, 64, 64)
    model.score_threshold = 1.01  # nothing passes: every image is background only
    out = model(images)
    assert out.logits.shape == (0, 2) and out.probs.shape == (0,)
    with pytest.raises(ValueError, match=r"modality 'high' expects \(B, 1, H, W\)"):
        model(images.repeat(1, 3, 1, 1))


def test_detector_weights_come_from_a_file(tmp_path):
    detector = build_detector(modality="high", min_size=64, max_size=64)
    path = tmp_path / "detector.pt"
    torch.save(detector.state_dict(), path)
    loaded = build_detector(modality="high", min_size=64, max_size=64, weights=path)
    torch.testing.assert_close(loaded.backbone.body.conv1.weight, detector.backbone.body.conv1.weight)
    # another modality's first convolution is adapted by the one rule: 1 channel to 3, filters / 3
    pseudo = build_detector(modality="pseudo", min_size=64, max_size=64, weights=path)
    torch.testing.assert_close(pseudo.backbone.body.conv1.weight,
                               detector.backbone.body.conv1.weight.repeat(1, 3, 1, 1) / 3)
    other = tmp_path / "classifier.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), other)
    with pytest.raises(ValueError, match=r"classifier\.pt' does not match the Mask R-CNN detector"):
        build_detector(modality="pseudo", weights=other)
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        build_detector(weights=tmp_path / "missing.pt")
