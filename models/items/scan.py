"""A whole scan end to end: the item finder's items, each item's superpixels (or the item itself)
scored, and each item's score by its rule; what batch scoring reports."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from models.item_scores import item_score
from models.items.crops import mask_box
from models.items.evidence import item_evidence
from models.items.object_model import ItemObjectModel
from models.subcomponent.items import ItemSubcomponentModel
from scans.modalities import physical_channel


@dataclass
class ItemSuperpixels:
    """One item crop's superpixels inside the item: (h, w) labels 0..n−1 (−1 elsewhere), their
    anomaly probabilities and areas (px); for a model with an item head the item's evidence and,
    once the head is fitted, its learned item score."""

    labels: torch.Tensor
    probs: torch.Tensor
    area: torch.Tensor
    evidence: np.ndarray | None = None
    learned: float | None = None


@torch.no_grad()
def item_superpixels(model: ItemSubcomponentModel, image: torch.Tensor, mask: torch.Tensor,
                     item_px: float | None = None, anomaly: torch.Tensor | None = None,
                     item_class: str | None = None) -> tuple[ItemSuperpixels, torch.Tensor | None]:
    """Score one unmasked (C, h, w) item crop (its box grown by the model's input margin) with its
    (h, w) mask (a model with class context reads ``item_class``, the class the item is named); with
    the true ``anomaly`` map also each inside superpixel's target (1, 0 or IGNORE)."""
    device = next(model.parameters()).device
    px = float(mask.sum()) if item_px is None else item_px
    if model.class_context is not None and not item_class:
        raise ValueError("this model reads each item's class (class_context), and this item has no name: "
                         "its item stage names no classes")
    named = None if item_class is None else model.class_index([item_class])
    out = model(model.assemble(image[None], mask[None]).to(device), mask[None].to(device),
                torch.tensor([px], device=device), item_class=named)
    probs = torch.zeros(out.segments.n, device=device)
    probs[out.classified] = out.probs
    inside = out.inside
    renumber = torch.full((out.segments.n,), -1, dtype=torch.long, device=device)
    renumber[inside] = torch.arange(int(inside.sum()), device=device)
    labels = renumber[out.segments.labels[0]]
    targets = None if anomaly is None else model.targets(out, anomaly[None].to(device))[inside]
    parts = ItemSuperpixels(labels, probs[inside], out.segments.area[inside])
    head = model.item_head
    if head is not None:
        pixel_logits = None if out.pixel_logits is None else out.pixel_logits[0].float().cpu().numpy()
        crop = image.float().cpu().numpy()
        physical = [physical_channel(model.modality, crop, q) for q in ("high_attenuation", "zeff")]
        parts.evidence = item_evidence(*(t.cpu().numpy() for t in (labels, parts.probs, parts.area, mask)),
                                       pixel_logits, *physical)
        if bool(head.fitted):
            parts.learned = float(head(torch.from_numpy(parts.evidence)[None].to(device))[0])
    return parts, targets


@torch.no_grad()
def item_object_probs(model: ItemObjectModel, images: list[torch.Tensor], masks: list[torch.Tensor]
                      ) -> np.ndarray:
    """Each unmasked (C, h, w) item crop (its box grown by the model's input margin) with its (h, w)
    mask classified whole: (n,) float32 anomaly probabilities."""
    inputs = model.prepare(images, masks).to(next(model.parameters()).device)
    return torch.softmax(model(inputs).float(), 1)[:, 1].cpu().numpy().astype(np.float32)


@dataclass
class ScanItems:
    """A scan scored end to end: (H, W) labels 1..n of the scored segments (superpixels of found
    items, or the items themselves), 0 elsewhere; each segment's probability and item; each found
    item's score."""

    labels: np.ndarray  # (H, W) int32
    segment_scores: np.ndarray  # (n,) float32
    segment_item: np.ndarray  # (n,) int64
    item_scores: np.ndarray  # (m,) float32
    item_boxes: np.ndarray | None = None  # (m, 4) int64 x0, y0, x1, y1 (exclusive) of each found mask
    item_masks: list[np.ndarray] | None = None  # (H, W) bool of each found item
    item_detection: np.ndarray | None = None  # (m,) float32: the item finder's confidence in each
    item_classes: list[str] | None = None  # each found item's class, where the finder names classes


@torch.no_grad()
def score_scan(finder: nn.Module, model: nn.Module, image: torch.Tensor, finder_image: torch.Tensor,
               rule: str = "max") -> ScanItems:
    """Find the items of one scan (``finder_image``: the finder's modality, C'×H×W), then score each
    item's crop of ``image`` (the model's modality, C×H×W) at native pitch."""
    device = next(finder.parameters()).device
    found = finder.find(finder_image[None].to(device))[0]
    masks = found.masks()
    height, width = image.shape[-2:]
    labels = np.zeros((height, width), np.int32)
    seg_scores, seg_item, item_scores = [], [], []
    for index, mask in enumerate(masks):
        box = mask_box(mask, model.input.margin)
        rows, cols = box.slices()
        crop, crop_mask = image[:, rows, cols], torch.from_numpy(mask[rows, cols])
        region = labels[rows, cols]
        if isinstance(model, ItemObjectModel):
            prob = float(item_object_probs(model, [crop], [crop_mask])[0])
            region[crop_mask.numpy()] = len(seg_scores) + 1
            seg_scores.append(prob)
            seg_item.append(index)
            item_scores.append(prob)
            continue
        named = None if found.classes is None else found.classes[index]
        parts, _ = item_superpixels(model, crop, crop_mask, item_class=named)
        local = parts.labels.cpu().numpy()
        keep = (local >= 0) & crop_mask.numpy()
        region[keep] = local[keep] + len(seg_scores) + 1
        seg_scores.extend(parts.probs.cpu().tolist())
        seg_item.extend([index] * len(parts.probs))
        item_scores.append(item_score(rule, parts.probs, parts.area, parts.learned))
    # a superpixel whose pixels all lay outside its item's mask has no pixel: renumber what is left
    present = np.bincount(labels.ravel(), minlength=len(seg_scores) + 1)[1:] > 0
    relabel = np.zeros(len(seg_scores) + 1, np.int32)
    relabel[1:][present] = np.arange(1, int(present.sum()) + 1)
    return ScanItems(relabel[labels], np.asarray(seg_scores, np.float32)[present],
                     np.asarray(seg_item, np.int64)[present], np.asarray(item_scores, np.float32),
                     np.array([tight_box(mask) for mask in masks], np.int64).reshape(-1, 4), list(masks),
                     found.scores.float().cpu().numpy().astype(np.float32), found.classes)


def tight_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (exclusive ends) of a mask's pixels; zeros when it has none."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return 0, 0, 0, 0
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
