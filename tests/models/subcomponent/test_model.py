"""Joint sub-component model: crop and pool agree in shape, training lowers the joint loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.catalog import CLASSIFY_MODES
from models.segments import segments_of
from models.subcomponent import SubcomponentModel
from models.subcomponent.figure import ANOMALOUS_RGB, BENIGN_RGB, boundaries, render_contours
from models.subcomponent.model import IGNORE, balanced_class_weights, sample_superpixels, superpixel_targets
from scans.archive import Archive
from scans.modalities import ModalityError, build_input


@pytest.fixture(scope="module")
def batch(small_archive):
    """Two synthetic 96² scans with anomalies: pseudo-colour input, parts, anomaly, objects."""
    archive = Archive(small_archive)
    scans = [archive.read(i) for i in archive.scan_ids]
    scans = sorted(scans, key=lambda s: -int(s.anomaly.sum()))[:2]
    images = torch.from_numpy(np.stack([build_input(s, "pseudo") for s in scans]))
    parts = torch.from_numpy(np.stack([s.parts for s in scans]))
    anomaly = torch.from_numpy(np.stack([s.anomaly for s in scans]))
    return images, parts, anomaly


def test_crop_and_pool_give_one_output_per_superpixel(batch):
    images = batch[0]
    outputs = {}
    for mode in CLASSIFY_MODES:
        torch.manual_seed(0)
        model = SubcomponentModel(modality="pseudo", backbone="tiny", mode=mode, n_superpixels=50,
                                  crop_size=32).eval()
        with torch.no_grad():
            outputs[mode] = model(images)
    crop, pool = outputs["crop"], outputs["pool"]
    assert torch.equal(crop.segments.labels, pool.segments.labels)  # same SSN, same superpixels
    assert crop.logits.shape == pool.logits.shape == (pool.segments.n, 2)
    assert pool.probs.min() >= 0 and pool.probs.max() <= 1


def test_crop_training_classifies_every_positive_and_sampled_negatives(batch):
    images, parts, anomaly = batch
    torch.manual_seed(0)
    model = SubcomponentModel(modality="pseudo", backbone="tiny", mode="crop", n_superpixels=50,
                              crop_size=32, crops_per_image=6, anomaly_fraction=0.1)
    out = model(images, anomaly=anomaly)  # training: a bounded sample
    targets = superpixel_targets(out.segments, anomaly, 0.1)
    chosen = out.classified
    assert out.logits.shape == (chosen.numel(), 2)
    assert set(torch.nonzero(targets == 1).flatten().tolist()) <= set(chosen.tolist())  # every positive
    assert not (targets[chosen] == IGNORE).any()
    per_image = torch.bincount(out.segments.image_index[chosen], minlength=2)
    positives = torch.bincount(out.segments.image_index[targets == 1], minlength=2)
    assert (per_image <= torch.clamp(positives + 1, min=6)).all() and (per_image >= 1).all()
    assert per_image.sum() < out.segments.n  # far fewer crops than superpixels
    loss = model.loss(out, parts, anomaly)
    loss.total.backward()
    assert torch.isfinite(loss.classification)
    with torch.no_grad():  # evaluation: every superpixel, in chunks
        model.eval()
        full = model(images, anomaly=anomaly)
    assert full.classified is None and full.logits.shape == (full.segments.n, 2)
    pool = SubcomponentModel(modality="pseudo", backbone="tiny", mode="pool", n_superpixels=50)
    assert pool(images, anomaly=anomaly).classified is None  # pool classifies all: they cost one pass
    with pytest.raises(ValueError, match="crops_per_image"):
        SubcomponentModel(modality="pseudo", backbone="tiny", mode="crop", crops_per_image=0)


@pytest.mark.parametrize("mode", list(CLASSIFY_MODES))
def test_optimiser_steps_reduce_the_joint_loss(batch, mode):
    images, parts, anomaly = batch
    torch.manual_seed(0)
    model = SubcomponentModel(modality="pseudo", backbone="tiny", mode=mode, ssn_feature="paper",
                              n_superpixels=50, crop_size=32)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        out = model(images)
        loss = model.loss(out, parts, anomaly)
        optimiser.zero_grad()
        loss.total.backward()
        optimiser.step()
        losses.append(loss.total.item())
    assert losses[-1] < losses[0]
    assert loss.reconstruction.item() > 0 and loss.compactness.item() > 0


def test_superpixel_targets_use_the_anomaly_fraction():
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    labels[0, :, 2:] = 1
    anomaly = torch.zeros(1, 4, 4, dtype=torch.uint8)
    anomaly[0, :3, 3] = 1  # 3 of segment 1's 8 pixels
    seg = segments_of(labels)
    assert superpixel_targets(seg, anomaly, 0.25).tolist() == [0, 1]
    assert superpixel_targets(seg, anomaly, 0.5).tolist() == [0, IGNORE]  # partly anomaly: neither


def test_ignored_superpixels_get_no_loss():
    labels = torch.zeros(1, 16, 24, dtype=torch.long)
    labels[0, :, 8:16], labels[0, :, 16:] = 1, 2
    anomaly = torch.zeros(1, 16, 24, dtype=torch.uint8)
    anomaly[0, :2, 8:16] = 1  # 16 of segment 1's 128 pixels: ignored at τ 0.5
    anomaly[0, :, 16:] = 1  # all of segment 2: positive
    seg = segments_of(labels)
    targets = superpixel_targets(seg, anomaly, 0.5)
    assert targets.tolist() == [0, IGNORE, 1]
    assert balanced_class_weights(targets).tolist() == [1.0, 1.0]  # one of each class counted
    assert sample_superpixels(seg, targets, per_image=3).tolist() == [True, False, True]  # never ignored
    model = SubcomponentModel(modality="pseudo", backbone="tiny", n_superpixels=6, anomaly_fraction=0.5)
    out = model(torch.rand(1, 3, 16, 24))
    out.segments, out.logits = seg, torch.zeros(3, 2, requires_grad=True)
    model.loss(out, labels.int(), anomaly).classification.backward()
    assert out.logits.grad[1].abs().sum() == 0 and out.logits.grad[0].abs().sum() > 0
    sliver = torch.zeros_like(anomaly)
    sliver[0, :1, :] = 1  # a sliver of every superpixel: all ignored, a zero loss, not NaN
    out.logits = torch.zeros(3, 2, requires_grad=True)
    assert model.loss(out, labels.int(), sliver).classification.item() == 0.0


def test_balanced_class_weights():
    weights = balanced_class_weights(torch.tensor([0, 0, 0, 1]))
    torch.testing.assert_close(weights, torch.tensor([4 / 6, 2.0]))
    assert balanced_class_weights(torch.tensor([0, 0])).tolist() == [0.5, 0.0]  # absent class: 0


def test_bad_settings_are_named():
    with pytest.raises(KeyError, match="valid: crop, pool"):
        SubcomponentModel(mode="slice")
    with pytest.raises(ValueError, match="crop_size"):
        SubcomponentModel(crop_size=4)
    with pytest.raises(ModalityError, match="unknown modality 'xray'"):
        SubcomponentModel(modality="xray")
    model = SubcomponentModel(modality="hlz", backbone="tiny")
    with pytest.raises(ValueError, match=r"modality 'hlz' expects \(B, 3, H, W\)"):
        model(torch.zeros(1, 1, 32, 32))


def test_figure_draws_red_and_green_contours():
    labels = np.zeros((8, 8), dtype=np.int64)
    labels[:, 4:] = 1
    image = render_contours(np.full((8, 8), 0.5, dtype=np.float32), labels, np.array([False, True]))
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8
    assert tuple(image[0, 3]) == BENIGN_RGB and tuple(image[0, 4]) == ANOMALOUS_RGB
    assert tuple(image[0, 0]) == (128, 128, 128)  # inside: the background shows
    assert boundaries(labels).sum() == 16
    with pytest.raises(ValueError, match="anomalous has 1 entries"):
        render_contours(image, labels, np.array([True]))


def test_pool_mode_sees_the_last_three_feature_levels():
    from models.backbones import build_backbone
    from models.subcomponent.modes import feature_levels

    backbone = build_backbone("resnet18", in_channels=3)
    levels = feature_levels(backbone.features, torch.zeros(1, 3, 64, 64))
    assert [tuple(level.shape[1:]) for level in levels] == [(128, 8, 8), (256, 4, 4), (512, 2, 2)]
    model = SubcomponentModel(backbone="resnet18", mode="pool")
    assert model.pool_head[0].in_features == 128 + 256 + 512
    assert SubcomponentModel(backbone="tiny", mode="crop").pool_head is None
