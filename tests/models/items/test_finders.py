"""Item finders: the light U-Net finds the items of a tiny archive; Mask R-CNN keeps the interface."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.catalog import ITEM_FINDERS
from models.items.finders import FoundItems, UNetFinder, center_focal_loss, center_targets
from scans.archive import Archive
from scans.modalities import build_input
from study.config import ItemStageConfig
from study.items.stage import find_and_score, train_finder


def test_center_targets_peak_at_each_item_centroid_and_point_there():
    objects = torch.zeros(1, 9, 12, dtype=torch.long)
    objects[0, 1:4, 1:4] = 1  # centroid (2, 2)
    objects[0, 2:9, 5:12] = 2  # centroid (5, 8): it touches nothing, but could
    heat, offsets = center_targets(objects, sigma=1.5)
    assert heat[0, 2, 2] == pytest.approx(1.0) and heat[0, 5, 8] == pytest.approx(1.0)
    assert heat[0, 0, 11] < 0.05
    assert offsets[0, :, 1, 1].tolist() == [1.0, 1.0]  # from (1, 1) to (2, 2)
    assert offsets[0, :, 8, 11].tolist() == [-3.0, -3.0]
    assert torch.all(offsets[0, :, 0, 0] == 0)  # background: no offset


def _peaks(heat: torch.Tensor) -> list[tuple[int, int]]:
    top = (heat == torch.nn.functional.max_pool2d(heat[None, None], 3, 1, 1)[0, 0]) & (heat > 0.9)
    return [tuple(p) for p in torch.nonzero(top).tolist()]


def test_body_centres_give_two_touching_items_a_peak_each_where_centroids_put_both_on_one():
    """Two touching boxes, the right one with a long cable running left under the other: its
    centroid lies inside its neighbour, so both centroid peaks stand on the left item; the deepest
    point of each body gives each item its own peak, inside it."""
    objects = torch.zeros(1, 24, 60, dtype=torch.long)
    objects[0, 5:15, 25:35] = 1
    objects[0, 5:15, 35:45] = 2
    objects[0, 15:18, 0:45] = 2  # the cable
    centroids, _ = center_targets(objects, sigma=3.0)
    assert {int(objects[0, y, x]) for y, x in _peaks(centroids[0])} == {1}
    heat, offsets = center_targets(objects, sigma=3.0, center="body")
    peaks = _peaks(heat[0])
    assert len(peaks) == 2 and sorted(int(objects[0, y, x]) for y, x in peaks) == [1, 2]
    for y, x in peaks:  # in the middle of its box, not on the cable
        assert 8 <= y <= 11 and (28 <= x <= 31 or 38 <= x <= 41)
    # every pixel of the cable points to its own item's body
    y, x = 16, 3
    target = (y + offsets[0, 0, y, x].item(), x + offsets[0, 1, y, x].item())
    assert objects[0, round(target[0]), round(target[1])] == 2 and target[1] >= 35
    with pytest.raises(ValueError, match="center"):
        center_targets(objects, 3.0, center="middle")
    # the item stage's setting reaches the finder it builds and trains (a spec without it: centroid)
    from models.items.stage import build_finder
    from study.items.stage import finder_spec

    assert "center" not in finder_spec(ItemStageConfig())["kwargs"]
    finder = build_finder(finder_spec(ItemStageConfig(modality="hlz", scale=1, center="body")))
    assert finder.center == "body"
    image = torch.rand(1, 3, 24, 60)
    assert torch.isfinite(finder.loss(image, objects))


def test_unet_finder_prepares_its_scans_and_gives_one_map_per_scan(small_archive):
    """What the finder sees and what finding gives, untrained: that it learns and finds the items of
    scans it never saw is tested end to end (tests/study/test_learnability.py, the item stage)."""
    archive = Archive(small_archive)
    scans = [archive.read(i) for i in archive.scan_ids[:3]]
    images = [build_input(s, "hlz") for s in scans]
    finder = UNetFinder(modality="hlz", scale=1, sigma=3.0, min_item_px=30)
    x = torch.from_numpy(np.stack(images))
    y = torch.from_numpy(np.stack([s.objects for s in scans]).astype(np.int64))
    small, objects = finder.prepare(x, y)
    assert small.shape[-1] == x.shape[-1] and objects.shape == small.shape[:1] + small.shape[-2:]
    recipe = ItemStageConfig(steps=3, batch=3, lr=3e-3)
    losses = train_finder(finder, small, objects, recipe, torch.device("cpu"))
    assert len(losses) == 3 and all(np.isfinite(losses))
    found, score = find_and_score(finder, scans, "hlz", torch.device("cpu"))
    maps = found.maps
    assert set(maps) == {s.scan_id for s in scans} and score.n_true == sum(s.n_objects for s in scans)
    assert all(m.shape == scans[0].objects.shape and m.dtype == np.int16 for m in maps.values())
    assert found.classes == {} and score.class_accuracy is None  # this finder names no classes


class _TruthFinder(torch.nn.Module):
    """Finds each of ``scans`` (in order) exactly as labelled and names its items as labelled, but
    for the first scan's first item."""

    def __init__(self, scans):
        super().__init__()
        self.scans, self.first = list(scans), True

    def find(self, images: torch.Tensor) -> list[FoundItems]:
        scan = self.scans.pop(0)
        names = [str(c) for c in scan.object_class]
        if self.first:
            names[0], self.first = "not_" + names[0], False
        objects = torch.from_numpy(scan.objects.astype(np.int64))
        return [FoundItems(objects, torch.ones(scan.n_objects), names)]


def _named_finder(classes: tuple[str, ...], favourite: str) -> UNetFinder:
    """An untrained finder naming ``classes`` whose class head prefers ``favourite`` everywhere and
    whose item head calls every pixel of an item: what it names follows its class head alone."""
    finder = UNetFinder(modality="hlz", scale=1, sigma=3.0, min_item_px=30, classes=classes,
                        encoder="mobilenet_v3_small_050").eval()
    head = finder.net.segmentation_head[0]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[0] = 5.0  # every pixel an item's
        head.bias[4 + classes.index(favourite)] = 3.0
    return finder


def test_a_finder_names_classes_learns_them_and_scores_its_naming(small_archive):
    """The class head: its loss counts item pixels of known classes only, it falls as the head
    learns one scan's classes, a found item is named by its pixels' mean class probability, and
    class accuracy counts matched items named as their truth."""
    archive = Archive(small_archive)
    scans = [archive.read(i) for i in archive.scan_ids[:3]]
    classes = tuple(archive.item_classes(archive.scan_ids))
    assert classes == tuple(sorted({str(c) for s in archive for c in s.object_class}))
    finder = UNetFinder(modality="hlz", scale=1, sigma=3.0, min_item_px=30, classes=classes,
                        encoder="mobilenet_v3_small_050")
    objects = torch.from_numpy(scans[0].objects.astype(np.int64))
    named = finder.class_map(objects, scans[0].object_class)
    for item, name in enumerate(scans[0].object_class, start=1):
        assert set(named[objects == item].tolist()) == {classes.index(str(name)) + 1}
    assert (named[objects == 0] == 0).all()
    unknown = finder.class_map(objects, ["toaster_of_another_world"] * scans[0].n_objects)
    assert (unknown == 0).all()  # a class it does not name teaches its head nothing
    x = torch.from_numpy(build_input(scans[0], "hlz"))[None]
    with pytest.raises(ValueError, match="class maps"):
        finder.loss(x, objects[None])
    with pytest.raises(ValueError, match="names no item classes"):
        UNetFinder(modality="hlz", scale=1).loss(x, objects[None], named[None])
    optimizer = torch.optim.Adam(finder.net.segmentation_head.parameters(), lr=1e-2)
    with torch.no_grad():
        first = float(finder._class_loss(finder._outputs(x), named[None]))
    for _ in range(30):
        loss = finder._class_loss(finder._outputs(x), named[None])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.5 * first
    # naming: a head that prefers one class names every found item so, and accuracy counts it
    favourite = str(scans[0].object_class[0])
    found, score = find_and_score(_named_finder(classes, favourite), scans, "hlz", torch.device("cpu"))
    assert set(found.classes) == set(found.maps)
    for scan_id, labels in found.maps.items():
        assert found.classes[scan_id].tolist() == [favourite] * int(labels.max())
    # accuracy: a finder that finds every true item and names all but the first scan's first right
    _, score = find_and_score(_TruthFinder(scans), scans, "hlz", torch.device("cpu"))
    n_items = sum(s.n_objects for s in scans)
    assert score.recall == 1.0 and score.class_accuracy == pytest.approx((n_items - 1) / n_items)
    with pytest.raises(ValueError, match="distinct"):
        UNetFinder(modality="hlz", classes=("kettle", "kettle"))


def test_found_items_masks_follow_the_instance_map():
    objects = torch.tensor([[0, 1, 1], [2, 2, 0]])
    found = FoundItems(objects, torch.tensor([0.9, 0.8]))
    masks = found.masks()
    assert [m.sum() for m in masks] == [2, 2]


def test_every_finder_is_registered_and_numbers_what_it_finds():
    assert set(ITEM_FINDERS) == {"unet", "maskrcnn"}
    finder = UNetFinder(modality="hlz", scale=2).eval()
    air = torch.ones(1, 3, 64, 64)
    air[:, 2] = 0.0
    found = finder.find(air)[0]
    assert found.objects.shape == (64, 64)
    assert len(found.scores) == int(found.objects.max())


def _outputs_for(objects: torch.Tensor, sigma: float) -> torch.Tensor:
    """The outputs a perfect finder would give for an (h, w) instance map: item logits, centre
    heatmap logits, offsets in units of sigma."""
    heat, offsets = center_targets(objects[None], sigma)
    item = torch.where(objects > 0, 8.0, -8.0)
    return torch.cat([item[None], torch.logit(heat.clamp(1e-4, 1 - 1e-4)), offsets[0] / sigma])


def test_touching_items_split_at_their_centres_and_one_item_stays_whole():
    finder = UNetFinder(modality="hlz", scale=2, min_item_px=40)
    objects = torch.zeros(96, 96, dtype=torch.long)
    objects[10:50, 5:60] = 1
    objects[30:90, 40:90] = 2  # overlaps item 1: one connected region of item pixels
    labels = finder._group(_outputs_for(objects, finder.sigma))
    assert int(labels.max()) > 0 and len(torch.unique(labels[labels > 0])) == 2
    for item in (1, 2):  # each found item is (nearly all of) one true item
        found = torch.mode(labels[objects == item]).values
        assert (labels[objects == item] == found).float().mean() > 0.95
    single = torch.zeros(96, 96, dtype=torch.long)
    single[10:80, 10:70] = 1
    out = _outputs_for(single, finder.sigma)
    # its centre falls between pixels: four tied heatmap pixels, one peak; offsets are noisy
    out[2:] += 0.3 * torch.randn(2, 96, 96, generator=torch.Generator().manual_seed(0))
    labels = finder._group(out)
    assert len(torch.unique(labels[labels > 0])) == 1 and (labels[single > 0] > 0).all()


def test_a_weak_centre_peak_splits_touching_items_only_above_peak_relative():
    objects = torch.zeros(96, 96, dtype=torch.long)
    objects[10:50, 5:60] = 1
    objects[30:90, 40:90] = 2
    heat, offsets = center_targets(objects[None], 8.0)
    heat = heat[0]
    heat[objects == 2] *= 0.3  # item 2's centre is seen, but faintly: a third of item 1's
    out = torch.cat([torch.where(objects > 0, 8.0, -8.0)[None], torch.logit(heat.clamp(1e-4, 1 - 1e-4))[None],
                     offsets[0] / 8.0])
    def n_found(peak_relative: float) -> int:
        labels = UNetFinder(modality="hlz", scale=2, min_item_px=40, peak_relative=peak_relative)._group(out)
        return len(torch.unique(labels[labels > 0]))

    assert n_found(0.5) == 1 and n_found(0.2) == 2
    with pytest.raises(ValueError, match="peak_relative"):
        UNetFinder(modality="hlz", peak_relative=0.0)


def test_a_faint_casing_joins_its_item_only_below_the_item_threshold():
    objects = torch.zeros(96, 96, dtype=torch.long)
    objects[20:80, 20:80] = 1
    out = _outputs_for(objects, 8.0)
    near = (torch.arange(96) - 50).abs() < 12
    casing = (objects > 0) & ~(near[:, None] & near[None])
    out[0][casing] = torch.logit(torch.tensor(0.35))  # the finder half-sure of all but the dense core

    def item_pixels(threshold: float) -> int:
        finder = UNetFinder(modality="hlz", scale=2, min_item_px=40, item_threshold=threshold)
        return int((finder._group(out) > 0).sum())

    assert item_pixels(0.5) == 23 * 23 and item_pixels(0.3) == 60 * 60
    with pytest.raises(ValueError, match="item_threshold must lie in"):
        UNetFinder(modality="hlz", item_threshold=1.0)


def test_the_focal_centre_loss_prefers_a_peak_per_touching_item_to_one_hill_between_them():
    objects = torch.zeros(1, 48, 64, dtype=torch.long)
    objects[0, 8:40, 4:32] = 1
    objects[0, 8:40, 32:60] = 2  # touching: centroids (23.5, 17.5) and (23.5, 45.5)
    heat, _ = center_targets(objects, sigma=4.0)
    two_peaks = torch.logit(heat.clamp(1e-4, 1 - 1e-4))
    between = torch.zeros_like(objects, dtype=torch.float32)
    between[0, 8:40, 4:60] = 1.0
    one_hill, _ = center_targets(between.long(), sigma=12.0)  # one broad peak at the midpoint
    one_hill = torch.logit(one_hill.clamp(1e-4, 1 - 1e-4))
    sharp, broad = center_focal_loss(two_peaks, heat), center_focal_loss(one_hill, heat)
    assert 0 <= sharp < 0.1 * broad
    # a confident peak where there is none costs more than a missed one costs nothing: both count
    assert center_focal_loss(torch.full_like(two_peaks, -8.0), heat) > sharp
    with pytest.raises(ValueError, match="center_loss"):
        UNetFinder(modality="hlz", center_loss="l1")
    # it starts as CenterNet does: a tenth of a chance of a centre everywhere
    head = UNetFinder(modality="hlz", center_loss="focal").net.segmentation_head[0]
    assert float(torch.sigmoid(head.bias[1])) == pytest.approx(0.1)


def test_the_light_finder_trains_its_heatmap_by_the_centre_loss_it_is_given():
    objects = torch.zeros(2, 32, 32, dtype=torch.long)
    objects[:, 4:20, 4:20], objects[:, 12:30, 18:30] = 1, 2
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    squared = UNetFinder(modality="hlz", scale=1, center_loss="squared").eval()
    focal = UNetFinder(modality="hlz", scale=1, center_loss="focal").eval()
    focal.load_state_dict(squared.state_dict())
    with torch.no_grad():
        logits = squared._outputs(images)[:, 1]
        heat, _ = center_targets(objects, squared.sigma)
        difference = float(focal.loss(images, objects) - squared.loss(images, objects))
        squared_error = 50.0 * torch.mean((torch.sigmoid(logits) - heat) ** 2)
        expected = float(center_focal_loss(logits, heat) - squared_error)
    assert difference == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_the_stage_config_says_which_finders_name_classes_and_old_weights_still_load(tmp_path):
    from models.items.stage import build_finder
    from study.items.stage import finder_spec

    assert ItemStageConfig().names_classes and not ItemStageConfig(finder="maskrcnn").names_classes
    assert not ItemStageConfig(classes=False).names_classes
    with pytest.raises(ValueError, match="classes act only on the unet finder"):
        ItemStageConfig(finder="maskrcnn", classes=True)
    assert finder_spec(ItemStageConfig(), ["kettle", "laptop"])["kwargs"]["classes"] == ["kettle", "laptop"]
    assert "classes" not in finder_spec(ItemStageConfig(classes=False), ["kettle", "laptop"])["kwargs"]
    assert "classes" not in finder_spec(ItemStageConfig(), [])["kwargs"]  # a stage before classes
    # a finder file that names no classes (or others) starts a naming finder: its item, centre and
    # offset outputs load, the class outputs start afresh
    torch.manual_seed(1)
    old = UNetFinder(modality="hlz", encoder="mobilenet_v3_small_050")
    torch.save(old.state_dict(), tmp_path / "old.pt")
    light = ItemStageConfig(modality="hlz", encoder="mobilenet_v3_small_050")
    spec = finder_spec(light, ["kettle", "laptop"])
    torch.manual_seed(2)
    fresh = build_finder(spec)
    torch.manual_seed(2)
    named = build_finder(spec, str(tmp_path / "old.pt"))
    key = "net.segmentation_head.0.weight"
    torch.testing.assert_close(named.state_dict()[key][:4], old.state_dict()[key])
    torch.testing.assert_close(named.state_dict()[key][4:], fresh.state_dict()[key][4:])
    first = next(k for k, v in old.state_dict().items() if v.dim() == 4)
    torch.testing.assert_close(named.state_dict()[first], old.state_dict()[first])
