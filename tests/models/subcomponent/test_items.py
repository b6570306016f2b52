"""The item sub-component model: K per item, superpixels outside the item or partly anomalous ignored."""

from __future__ import annotations

import pytest
import torch

from models.subcomponent.items import ItemSubcomponentModel, grid_size
from models.subcomponent.model import IGNORE


def _item(size: int = 48):
    image = torch.zeros(1, 3, size, size)  # hlz_log: air is 0 everywhere
    mask = torch.zeros(1, size, size, dtype=torch.bool)
    mask[:, 4:-4, 4:-4] = True
    image[:, :2][mask[:, None].expand(-1, 2, -1, -1)] = 0.3
    anomaly = torch.zeros(1, size, size, dtype=torch.bool)
    anomaly[:, 10:20, 10:20] = True
    image[:, :2, 10:20, 10:20] += 0.4
    return image, mask, anomaly


def test_grid_size_gives_about_k_per_item_whatever_the_crop():
    assert grid_size(100, 100, 10_000, 200) == 200
    assert grid_size(50, 50, 10_000, 200) == 50  # a quarter of the item: a quarter of its superpixels
    assert grid_size(8, 8, 10_000, 1) == 1


@pytest.mark.parametrize("mode", ["pool", "crop"])
def test_forward_and_loss_in_both_modes(mode):
    torch.manual_seed(0)
    model = ItemSubcomponentModel(modality="hlz_log", mode=mode, backbone="resnet18", n_superpixels=30,
                                  crop_size=16, crops_per_image=4)
    image, mask, anomaly = _item()
    out = model(image, mask, anomaly=anomaly)
    assert out.logits.shape == (out.classified.numel(), 2)
    assert out.inside.shape == (out.segments.n,)
    loss = model.loss(out, anomaly, mask)
    loss.total.backward()
    assert torch.isfinite(loss.total)
    assert (mode == "pool") == (out.pixel_logits is not None)


def test_superpixels_outside_the_item_and_partly_anomalous_are_ignored():
    model = ItemSubcomponentModel(modality="hlz_log", n_superpixels=30, anomaly_fraction=0.5)
    image, mask, anomaly = _item()
    out = model(image, mask)
    targets = model.targets(out, anomaly)
    share = out.segments.fraction(anomaly)
    assert torch.all(targets[~out.inside] == IGNORE)
    partial = out.inside & (share > 0) & (share <= 0.5)
    assert torch.all(targets[partial] == IGNORE)
    assert torch.all(targets[out.inside & (share == 0)] == 0)


def test_ignored_superpixels_get_no_loss():
    torch.manual_seed(0)
    model = ItemSubcomponentModel(modality="hlz_log", n_superpixels=30, pixel_weight=0.0)
    image, mask, anomaly = _item()
    out = model(image, mask)
    targets = model.targets(out, anomaly)
    ignored = targets == IGNORE
    assert ignored.any() and (~ignored).any()
    logits = out.logits.detach().clone().requires_grad_(True)
    out.logits = logits
    model.loss(out, anomaly, mask).total.backward()
    assert torch.all(logits.grad[ignored] == 0)
    assert logits.grad[~ignored].abs().sum() > 0
