"""Backbones: every entry × channel count runs forward and backward; weights load from files only."""

from __future__ import annotations

import pytest
import torch
from torchvision import models as tvm

from models.backbones import build_backbone
from models.catalog import BACKBONES
from scans.modalities import MODALITIES, modality_channels

# every channel count a modality gives, plus a combination (pseudo+hlz: 6)
CHANNELS = sorted({modality_channels(name) for name in MODALITIES} | {modality_channels("pseudo+hlz")})


@pytest.mark.parametrize("name", list(BACKBONES))
@pytest.mark.parametrize("channels", CHANNELS)
def test_forward_backward_at_64px(name, channels):
    torch.manual_seed(0)
    model = build_backbone(name, in_channels=channels, num_classes=2)
    x = torch.randn(2, channels, 64, 64)
    logits = model(x)
    assert logits.shape == (2, 2)
    feats = model.features(x)
    assert feats.shape[:2] == (2, model.feature_dim)
    logits.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_pretrained_file_is_adapted_to_channels(tmp_path):
    reference = tvm.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    first = reference.conv1.weight.detach()
    one = build_backbone("resnet18", in_channels=1, weights=path)
    torch.testing.assert_close(one.features[0].weight, first.sum(dim=1, keepdim=True))
    six = build_backbone("resnet18", in_channels=6, weights=path)
    torch.testing.assert_close(six.features[0].weight, torch.cat([first, first], 1) / 2)
    three = build_backbone("resnet18", in_channels=3, weights=path)
    torch.testing.assert_close(three.features[0].weight, first)
    torch.testing.assert_close(three.features[4][0].conv1.weight, reference.layer1[0].conv1.weight)


def test_own_checkpoint_round_trips(tmp_path):
    model = build_backbone("tiny", in_channels=6, num_classes=2)
    path = tmp_path / "tiny.pt"
    torch.save(model.state_dict(), path)
    again = build_backbone("tiny", in_channels=6, num_classes=2, weights=path)
    x = torch.randn(1, 6, 32, 32)
    model.eval()
    again.eval()
    torch.testing.assert_close(model(x), again(x))


def test_missing_or_mismatched_weights_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        build_backbone("resnet18", weights=tmp_path / "nope.pth")
    path = tmp_path / "r18.pth"
    torch.save(tvm.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match="does not match the backbone 'resnet50'"):
        build_backbone("resnet50", weights=path)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a loadable state dict"):
        build_backbone("tiny", weights=junk)


def test_unknown_backbone_lists_the_valid_ones():
    with pytest.raises(KeyError, match="valid: mobilenet_v3_small, mobilenet_v3_small_050, resnet18"):
        build_backbone("alexnet")
