"""The item sub-component model: K per item, superpixels outside the item or partly anomalous ignored."""

from __future__ import annotations

import pytest
import torch

from models.catalog import ITEM_INPUTS
from models.segments import segments_of
from models.subcomponent.items import SMALL_ANOMALY_PX, ItemSubcomponentModel, grid_size, ignore_band
from models.subcomponent.model import IGNORE, superpixel_targets


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


def test_a_whole_small_anomaly_inside_a_large_superpixel_is_a_positive():
    labels = torch.zeros(1, 20, 20, dtype=torch.long)  # one superpixel of 400 px
    labels[:, 10:] = 1  # and a second, anomaly-free
    segments = segments_of(labels)
    anomaly = torch.zeros(1, 20, 20, dtype=torch.bool)
    anomaly[:, 2:5, 2:5] = True  # a 9 px screw: 4.5 % of its superpixel
    assert superpixel_targets(segments, anomaly, 0.5).tolist() == [IGNORE, 0]
    assert superpixel_targets(segments, anomaly, 0.5, min_pixels=SMALL_ANOMALY_PX).tolist() == [1, 0]
    anomaly[:, 2:4, 2:4] = False
    anomaly[:, 4, 4] = False  # 4 px left: below the count, partial by share, ignored
    assert superpixel_targets(segments, anomaly, 0.5, min_pixels=SMALL_ANOMALY_PX).tolist() == [IGNORE, 0]


def test_the_pixel_loss_ignores_a_band_around_anomalies_with_small_anomalies():
    anomaly = torch.zeros(1, 12, 12, dtype=torch.bool)
    anomaly[:, 5:7, 5:7] = True
    band = ignore_band(anomaly)
    assert band.sum() == 6 * 6 - 4 and not (band & anomaly).any()
    torch.manual_seed(0)
    image, mask, anomaly = _item()
    for small in (False, True):
        model = ItemSubcomponentModel(modality="hlz_log", n_superpixels=30, small_anomalies=small)
        out = model(image, mask)
        logits = out.pixel_logits.detach().clone().requires_grad_(True)
        out.pixel_logits = logits
        model.loss(out, anomaly, mask).pixel.backward()
        around = ignore_band(anomaly) & mask
        assert (logits.grad[around].abs().sum() == 0) == small
        assert logits.grad[anomaly & mask].abs().sum() > 0


def test_the_head_sees_each_superpixels_highest_pixel_logit():
    torch.manual_seed(0)
    model = ItemSubcomponentModel(modality="hlz_log", n_superpixels=30, small_anomalies=True)
    assert model.head[0].in_features == model.dense.out_channels + 2
    image, mask, _ = _item()
    seen = []
    model.head.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    out = model(image, mask)
    highest = torch.full((out.segments.n,), -torch.inf).scatter_reduce(
        0, out.segments.labels.reshape(-1), out.pixel_logits.reshape(-1), "amax")
    torch.testing.assert_close(seen[0][:, -1], highest)


@pytest.mark.parametrize("item_input", ["context", "frame"])
def test_items_with_context_and_frame_train_in_both_modes(item_input):
    torch.manual_seed(0)
    image, mask, anomaly = _item()
    image = image + 0.2 * ~mask[:, None]  # something beside the item: not air
    for mode in ("pool", "crop"):
        model = ItemSubcomponentModel(modality="hlz_log", mode=mode, n_superpixels=30, crop_size=16,
                                      crops_per_image=4, item_input=item_input, small_anomalies=True)
        inputs = model.assemble(image, mask)
        assert inputs.shape[1] == 3 + ITEM_INPUTS[item_input].extra_channels
        assert torch.equal(inputs[:, :3], image)
        model.loss(model(inputs, mask, anomaly=anomaly), anomaly, mask).total.backward()


def test_test_views_average_dense_features_into_a_turn_equivariant_map_in_eval_mode_only():
    torch.manual_seed(0)
    model = ItemSubcomponentModel(modality="hlz_log", backbone="resnet18", n_superpixels=30, test_views=8)
    image = torch.randn(1, 3, 32, 48)  # not square: odd turns swap its sides
    turned = torch.rot90(image, 1, (-2, -1))
    with torch.no_grad():
        model.eval()
        averaged = model.dense_features(image)
        # the mean over the dihedral group: turning the input turns the features, nothing else
        assert torch.allclose(model.dense_features(turned), torch.rot90(averaged, 1, (-2, -1)), atol=1e-5)
        assert torch.allclose(model.dense_features(image.flip(-1)), averaged.flip(-1), atol=1e-5)
        assert not torch.allclose(averaged, model.dense(image), atol=1e-4)
        model.test_views = 4  # the quarter turns alone: each view's features turned back, averaged
        by_hand = sum(torch.rot90(model.dense(torch.rot90(image, t, (-2, -1))), -t, (-2, -1))
                      for t in range(4)) / 4
        assert torch.allclose(model.dense_features(image), by_hand, atol=1e-5)
        model.train()
        assert torch.equal(model.dense_features(image), model.dense(image))  # training sees one view


def test_test_views_refused_where_they_cannot_act():
    with pytest.raises(ValueError, match="test_views must be one of 1, 4, 8"):
        ItemSubcomponentModel(modality="hlz_log", n_superpixels=30, test_views=2)
    with pytest.raises(ValueError, match="pool mode's dense features only, not 'crop'"):
        ItemSubcomponentModel(modality="hlz_log", mode="crop", n_superpixels=30, test_views=4)
