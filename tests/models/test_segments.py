"""Segments, masked crops, superpixel pooling and object/scan scores on hand-made label maps."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from models.crops import masked_crops
from models.scores import item_overlap, object_scores, scan_scores
from models.segments import instances_as_segments, segments_of
from models.subcomponent.pooling import superpixel_pool
from scans.modalities import modality_air


def two_images() -> torch.Tensor:
    """Image 0: left half 0, right half 1 with an L-shaped 2; image 1: one segment."""
    labels = torch.zeros(2, 6, 8, dtype=torch.long)
    labels[0, :, 4:] = 1
    labels[0, 0:2, 0:2] = 2
    labels[0, 2, 0] = 2
    return labels


def test_segments_are_numbered_across_images_with_areas_boxes_centroids():
    seg = segments_of(two_images())
    assert seg.n == 4 and seg.counts.tolist() == [3, 1]
    assert seg.image_index.tolist() == [0, 0, 0, 1]
    assert seg.area.tolist() == [19, 24, 5, 48]
    assert seg.boxes[2].tolist() == [0, 0, 2, 3]  # x0, y0, x1, y1 with exclusive ends
    assert seg.boxes[3].tolist() == [0, 0, 8, 6]
    assert seg.centroid[3].tolist() == [4.0, 3.0]
    assert seg.labels[1].unique().tolist() == [3]
    assert torch.equal(seg.local_labels(), two_images())


def test_segments_refuse_gaps_in_the_numbering():
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    labels[0, 0, 0] = 2
    with pytest.raises(ValueError, match=r"0\.\.M−1"):
        segments_of(labels)


def test_instances_as_segments_keep_item_ids():
    objects = torch.zeros(1, 4, 4, dtype=torch.long)
    objects[0, :2, :2] = 3
    seg, ids = instances_as_segments(objects)
    assert ids.tolist() == [0, 3] and seg.area.tolist() == [12, 4]


def test_masked_crops_zero_other_segments_and_resize_the_box():
    labels = two_images()
    seg = segments_of(labels)
    image = torch.ones(2, 1, 6, 8)
    crops = masked_crops(image, seg, 6)
    assert crops.shape == (4, 1, 6, 6)
    assert torch.all(crops[3] == 1)  # whole-image segment: nothing masked
    assert torch.all(crops[1] == 1)  # rectangle segment fills its box
    # the L: its box is 2×3 pixels; the bottom-right pixel (row 2, col 1) is not in it
    ell = crops[2, 0]
    assert ell[:4].min() == 1 and ell[4:, :3].min() == 1 and ell[4:, 3:].max() == 0


def test_masked_crops_fill_other_segments_with_the_modalitys_air():
    labels = two_images()
    seg = segments_of(labels)
    image = torch.full((2, 4, 6, 8), 0.3)  # pseudo+zeff: 3 colour channels and Z
    air = modality_air("pseudo+zeff")
    assert air == (1.0, 1.0, 1.0, 0.0)  # white, and Z 0: not black, impenetrable metal
    crops = masked_crops(image, seg, 6, fill=air)
    ell = crops[2]  # the L's box: its bottom-right corner is another segment
    assert torch.all(ell[:3, 4:, 3:] == 1.0) and torch.all(ell[3, 4:, 3:] == 0.0)
    assert torch.allclose(ell[:, :4], torch.full_like(ell[:, :4], 0.3))  # its own pixels untouched
    assert torch.equal(masked_crops(image, seg, 6)[2, :, 4:, 3:], torch.zeros(4, 2, 3))  # default: 0


def test_masked_crops_sample_the_image_inside_the_box():
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    labels[0, 2:6, 3:7] = 1
    image = torch.arange(64, dtype=torch.float32).view(1, 1, 8, 8)  # linear: bilinear samples are exact
    crops = masked_crops(image, segments_of(labels), 4)
    torch.testing.assert_close(crops[1, 0], image[0, 0, 2:6, 3:7])


def test_superpixel_pool_equals_mean_of_upsampled_features():
    torch.manual_seed(0)
    labels = torch.randint(0, 4, (2, 37, 45))
    seg = segments_of(torch.stack([torch.unique(lab, return_inverse=True)[1] for lab in labels]))
    features = torch.randn(2, 7, 5, 6, requires_grad=True)
    pooled = superpixel_pool(features, seg)
    up = F.interpolate(features, size=(37, 45), mode="bilinear", align_corners=False)
    expected = torch.stack([up[seg.image_index[s]][:, seg.labels[seg.image_index[s]] == s].mean(1)
                            for s in range(seg.n)])
    torch.testing.assert_close(pooled, expected)
    pooled.sum().backward()
    assert features.grad is not None


def test_scan_and_object_scores_take_the_max_inside():
    labels = two_images()
    seg = segments_of(labels)
    scores = torch.tensor([0.1, 0.7, 0.9, 0.2])
    assert scan_scores(scores, seg).tolist() == pytest.approx([0.9, 0.2])
    objects = torch.zeros(2, 6, 8, dtype=torch.long)
    objects[0, :, 4:] = 1  # item 1 = segment 1
    objects[0, 0, 0] = 2  # item 2: one pixel, no segment's majority → segments touching it (seg 2)
    per_image = object_scores(scores, seg, objects, [2, 1])  # image 1 has an item with no pixels
    assert per_image[0].tolist() == pytest.approx([0.7, 0.9])
    assert math.isnan(per_image[1][0].item())


def test_object_scores_with_no_items():
    seg = segments_of(two_images())
    out = object_scores(torch.zeros(4), seg, torch.zeros(2, 6, 8, dtype=torch.long), [0, 0])
    assert [o.numel() for o in out] == [0, 0]


def test_item_overlap_counts_pixels_per_segment_and_item():
    seg = segments_of(two_images())
    objects = torch.zeros(2, 6, 8, dtype=torch.long)
    objects[0, :, 4:] = 1
    objects[1, :3] = 1  # the first item of image 1 is the batch's item 2 (column 2)
    overlap = item_overlap(seg, objects, [1, 1])
    assert overlap.tolist() == [[19, 0, 0], [0, 24, 0], [5, 0, 0], [24, 0, 24]]
