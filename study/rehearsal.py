"""A study's rehearsal (`dualscan study --smoke`): the same grid shape (pipelines, backbones,
modalities, item finder, optimizer) with sizes and steps cut so that it runs on a CPU in minutes.
It tests the plumbing of a long study before the GPUs are paid for; its figures mean nothing."""

from __future__ import annotations

import copy

from models.catalog import PIPELINES
from study.config import SpaceConfig, with_dotted

# what a rehearsal cuts: dotted keys of the raw config, set where the section is read
REHEARSAL = {
    "data.max_scans": 40,
    "space.k": [8],
    "space.batch_size": [4],
    "search.num_samples": 1,
    "training.crop_size": 32,
    "retries": 0,
}
ITEM_CUTS = {"items.steps": 2, "items.batch": 2, "recipe.steps": 2, "recipe.eval_every": 2, "recipe.tile": 32}
# two steps leave Mask R-CNN's scores low: keep its weak detections, so found items are scored
MASKRCNN_CUTS = {"items.image_size": 128, "items.score_threshold": 0.05}
CROP_CUTS = {"training.crops_per_image": 2}
SCAN_CUTS = {"space.epochs": 1, "data.image_size": 64}


def rehearsal(data: dict, gpu_share: float = 0.0) -> dict:
    """The raw config ``data`` cut for a rehearsal: every searched combination kept, each trained
    for two steps (or one epoch) on at most 40 scans, small crops; each trial on one CPU and
    ``gpu_share`` of a GPU, the item stage on one CPU and a whole GPU when there are GPUs; named
    NAME-smoke."""
    out = copy.deepcopy(data)
    space = out.get("space") or {}
    # unknown names are the validation's to report, after the cuts
    pipelines = [p for p in space.get("pipelines") or SpaceConfig.model_fields["pipelines"].default
                 if p in PIPELINES]
    item_first = [PIPELINES.declared(p).item_first for p in pipelines]
    cuts = {**REHEARSAL, "resources": {"cpu": 1, "gpu": gpu_share}}
    if any(item_first):
        cuts.update(ITEM_CUTS)
        cuts["items.resources"] = {"cpu": 1, "gpu": 1 if gpu_share else 0}
        if (out.get("items") or {}).get("finder") == "maskrcnn":
            cuts.update(MASKRCNN_CUTS)
    if not all(item_first):
        cuts.update(SCAN_CUTS)
    if "crop" in (space.get("modes") or []):
        cuts.update(CROP_CUTS)
    if "k" not in space or not any(PIPELINES.declared(p).superpixels for p in pipelines):
        cuts.pop("space.k")
    with_dotted(out, cuts)
    out["name"] = f"{out.get('name', 'study')}-smoke"
    return out
