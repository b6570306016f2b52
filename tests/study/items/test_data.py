"""Item sets: crops keep native pitch and their masks; found items are labelled by matching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.catalog import ITEM_INPUTS
from scans.archive import Archive
from scans.modalities import build_input, modality_air
from study.config import AugmentConfig
from study.items.data import TRAIN_DTYPE, ItemSet, ItemSetBuilder, read_items
from study.items.evaluation import ItemScores, choose_rule, level_scores
from study.items.tiles import TileSampler, augment


def _first_scan(small_archive):
    archive = Archive(small_archive)
    return archive, archive.read(archive.scan_ids[0])


def test_true_items_keep_native_pitch_and_round_trip(small_archive):
    archive, scan = _first_scan(small_archive)
    items = read_items(archive, archive.scan_ids[:3], "hlz")
    assert len(items) == sum(archive.read(i).n_objects for i in archive.scan_ids[:3])
    crop = items.crop(0)
    x0, y0, x1, y1 = items.boxes[0]
    image = build_input(scan, "hlz")
    # the crop is the scan's own float32 pixels (as predict scores them), not resized
    np.testing.assert_array_equal(crop.image.numpy(), image[:, y0:y1, x0:x1])
    # a training set keeps them in float16: half the memory, the pixels rounded
    train = read_items(archive, archive.scan_ids[:3], "hlz", dtype=TRAIN_DTYPE)
    assert train.image.dtype == np.float16 and train.image.nbytes * 2 == items.image.nbytes
    np.testing.assert_allclose(train.crop(0).image.numpy(), image[:, y0:y1, x0:x1], atol=2e-3)
    assert torch.equal(crop.mask, torch.from_numpy(scan.objects[y0:y1, x0:x1] == 1))
    assert items.item_px()[0] == (scan.objects == 1).sum()
    again = ItemSet.from_npz(np.load(__import__("io").BytesIO(items.to_bytes()), allow_pickle=False))
    assert torch.equal(again.crop(1).image, items.crop(1).image)


def test_found_items_are_labelled_by_the_true_item_they_match(small_archive):
    _, scan = _first_scan(small_archive)
    image = build_input(scan, "hlz")
    n = scan.n_objects
    spurious = np.zeros(scan.objects.shape, bool)
    spurious[:3, :3] = True
    found = [scan.objects == i for i in range(2, n + 1)] + [spurious]  # item 1 missed
    builder = ItemSetBuilder()
    builder.add_scan(scan, image, found)
    items = builder.build(3)
    flags = np.asarray(scan.object_anomalous)
    assert items.anomalous.tolist() == [*flags[1:].tolist(), False]  # spurious: benign
    assert items.missed_anomalous.tolist() == [bool(flags[0])]
    # scored end to end: the missed item sits at score 0, a miss when it is anomalous
    scores = ItemScores({"max": np.ones(len(items), np.float32)}, np.zeros(0, bool), np.zeros(0, np.float32))
    levels = level_scores(items, scores, "max")
    labels, values = levels.arrays("object")
    assert labels.tolist() == [*flags[1:].tolist(), False, bool(flags[0])]
    assert values.tolist() == [1.0] * len(items) + [0.0]
    assert choose_rule(items, scores)[0] == "max"


def test_found_and_missed_items_keep_their_class_and_model_to_the_object_level(study_archive):
    archive = Archive(study_archive)  # world 2: every item records the model it was built from
    scan = next(s for s in map(archive.read, archive.scan_ids) if s.n_objects >= 2)
    n = scan.n_objects
    spurious = np.zeros(scan.objects.shape, bool)
    spurious[:3, :3] = True
    builder = ItemSetBuilder()
    found = [scan.objects == i for i in range(2, n + 1)] + [spurious]  # item 1 missed
    named = np.array([f"named-{i}" for i in range(len(found))])  # what the item stage called each
    builder.add_scan(scan, build_input(scan, "hlz"), found, named)
    builder.add_scan(scan, build_input(scan, "hlz"))  # and its true items, named by their truth
    items = builder.build(3)
    classes, models = list(scan.object_class), list(scan.object_model)
    assert items.named_class.tolist() == [*named, *classes]
    items = items.first_scans(1)
    assert items.item_class.tolist() == [*classes[1:], ""] and items.item_model.tolist() == [*models[1:], ""]
    assert items.missed_class.tolist() == classes[:1] and items.missed_model.tolist() == models[:1]
    again = ItemSet.from_npz(np.load(__import__("io").BytesIO(items.to_bytes()), allow_pickle=False))
    assert again.item_model.tolist() == items.item_model.tolist()
    assert again.named_class.tolist() == named.tolist()
    with pytest.raises(ValueError, match="2 class names, "):
        builder.add_scan(scan, build_input(scan, "hlz"), found, named[:2])
    scores = ItemScores({"max": np.ones(len(items), np.float32)}, np.zeros(0, bool), np.zeros(0, np.float32))
    levels = level_scores(items, scores, "max")  # what the study's test pass groups by
    assert levels.object_classes().tolist() == [*classes[1:], "", classes[0]]
    assert levels.object_models().tolist() == [*models[1:], "", models[0]]


def test_tiles_are_balanced_augmented_and_what_lies_outside_the_mask_is_the_item_inputs_choice(small_archive):
    archive = Archive(small_archive)
    items = read_items(archive, archive.scan_ids, "hlz")
    fill = modality_air("hlz")
    sampler = TileSampler(items, 32, fill, seed=0)
    tiles, which = sampler.sample(64, positive=0.5, hard=0.0)
    assert tiles.images.shape == (64, 3, 32, 32)
    with_anomaly = tiles.anomaly.flatten(1).any(1).float().mean()
    assert with_anomaly > 0.35  # about half are centred on an anomaly
    sampler.remember(int(which[0]), 5, 5)
    _, picked = sampler.sample(8, positive=0.0, hard=1.0)
    assert (picked == which[0]).all()
    how = AugmentConfig(gain=0.05, noise=0.01, mask_px=1)
    out = augment(tiles, how, fill, torch.Generator().manual_seed(0))
    assert out.images.shape == tiles.images.shape and out.frames is None
    outside = ~out.masks
    air = torch.tensor(fill).view(1, 3, 1, 1).expand_as(out.images)
    masked = ITEM_INPUTS["masked"].assemble(out.images, out.masks, fill)
    assert torch.equal(masked.permute(1, 0, 2, 3)[:, outside], air.permute(1, 0, 2, 3)[:, outside])
    # with context the scan outside the mask reaches the model, and the mask is a channel
    context = ITEM_INPUTS["context"].assemble(out.images, out.masks, fill)
    assert context.shape == (64, 4, 32, 32)
    assert torch.equal(context[:, :3], out.images) and torch.equal(context[:, 3] > 0, out.masks)
    beside = context[:, :3].permute(1, 0, 2, 3)[:, outside]
    assert not torch.equal(beside, air.permute(1, 0, 2, 3)[:, outside])


def test_the_first_scans_of_a_set_are_its_items_of_those_scans(small_archive):
    archive = Archive(small_archive)
    ids = archive.scan_ids[:4]
    # every scan's first item missed, the rest found
    found = {i: [archive.read(i).objects == k for k in range(2, archive.read(i).n_objects + 1)] for i in ids}
    items = read_items(archive, ids, "hlz", found)
    first = items.first_scans(2)
    expected = read_items(archive, ids[:2], "hlz", found)
    for name in ("scan_ids", "scan_index", "boxes", "offsets", "image", "mask", "anomalous", "missed_scan",
                 "missed_anomalous"):
        np.testing.assert_array_equal(getattr(first, name), getattr(expected, name), err_msg=name)
    assert len(first.missed_scan) == 2 and len(items.first_scans(len(ids))) == len(items)
