"""Dense features start from a local weights file: an encoder's alone, or a whole DenseFeatures' state."""

from __future__ import annotations

import pytest
import torch

from models.pretext import PhysicsPretextNet, pretext_loss
from models.subcomponent.dense import DenseFeatures
from scans.modalities import modality_air

AIR = modality_air("hlz_log")


def _dense(**kwargs) -> DenseFeatures:
    return DenseFeatures("resnet18", 3, AIR, **kwargs)


def test_a_whole_state_dict_loads_encoder_and_decoder(tmp_path):
    torch.manual_seed(1)
    source = _dense()
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)
    loaded = _dense(weights=path)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in source.state_dict().items())


def test_an_encoder_state_dict_leaves_the_decoder_as_built(tmp_path):
    torch.manual_seed(1)
    source = _dense()
    path = tmp_path / "encoder.pt"
    torch.save(source.encoder.state_dict(), path)  # bare encoder keys
    torch.manual_seed(2)
    loaded = _dense(weights=path)
    torch.manual_seed(2)
    fresh = _dense()
    assert all(torch.equal(loaded.encoder.state_dict()[k], v) for k, v in source.encoder.state_dict().items())
    assert all(torch.equal(loaded.decoder.state_dict()[k], v) for k, v in fresh.decoder.state_dict().items())


def test_weights_of_another_network_are_refused_by_name(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(ValueError, match=r"other\.pt.*does not match the dense encoder"):
        _dense(weights=other)
    narrow = tmp_path / "narrow.pt"
    torch.save(DenseFeatures("resnet18", 3, AIR, decoder_channels=(32, 16, 16, 8)).state_dict(), narrow)
    with pytest.raises(ValueError, match=r"narrow\.pt.*decoder does not match"):
        _dense(weights=narrow)


def test_pretext_net_predicts_every_material_and_class_per_pixel():
    net = PhysicsPretextNet("resnet18", 3, AIR, materials=5, classes=4)
    densities, logits = net(torch.rand(2, 3, 40, 36))
    assert densities.shape == (2, 5, 40, 36) and logits.shape == (2, 4, 40, 36)
    # its features are the sub-component pipeline's: the state dict loads into DenseFeatures as is
    _dense().load_state_dict(net.dense.state_dict())


def test_pretext_loss_counts_item_pixels_only():
    target = torch.zeros(1, 2, 4, 4)
    classes = torch.zeros(1, 4, 4, dtype=torch.long)
    mask = torch.zeros(1, 4, 4, dtype=torch.bool)
    mask[0, :2] = True
    predicted = torch.zeros(1, 2, 4, 4)
    predicted[0, :, 2:] = 100.0  # wrong, but outside the item
    logits = torch.zeros(1, 3, 4, 4)
    logits[0, 0] = 50.0  # class 0, right and confident
    loss, parts = pretext_loss(predicted, logits, target, classes, mask)
    assert parts["mse"] == 0.0 and parts["class_ce"] < 1e-6 and float(loss) < 1e-6
    predicted[0, 0, 0, 0] = 2.0  # one item pixel off by 2 in one of two planes: 4 / 2 / 8 pixels
    assert pretext_loss(predicted, logits, target, classes, mask)[1]["mse"] == pytest.approx(0.25)
