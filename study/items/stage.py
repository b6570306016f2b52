"""The item stage of a study: one item finder trained on train scans, scored on val and test, and
its found items cut for every trial (never trained once per trial)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.items.finders import FoundItems
from models.items.matching import match_items
from models.items.stage import STAGE_FILES, build_finder, load_finder
from models.model_dir import CLASSES_KEY, CONFIG_FILE, METRICS_FILE, ModelDirectory
from scans.archive import SPLITS, Archive
from scans.modalities import build_input, modality_air
from scans.node_cache import cache_root, cached_rows
from scans.progress import progress_of
from study.config import ItemStageConfig, StudyConfig
from study.data import CACHE_FORMAT, split_ids
from study.pipelines import PIPELINES

# a stage checkpoints its finder this often (a tenth of its steps), so a restarted stage resumes
CHECKPOINTS_PER_STAGE = 10
LOSS_CURVE_POINTS = 20  # the stage's metrics keep its mean train loss over this many stretches


def _rows(array, index: np.ndarray) -> torch.Tensor:
    """Rows ``index`` of a tensor or a (memory-mapped) array, as a tensor: only they are read."""
    if isinstance(array, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(array[index]))
    return array[torch.from_numpy(index)]


def train_finder(finder: nn.Module, images, objects, recipe: ItemStageConfig, device: torch.device,
                 seed: int = 0, checkpoint: Callable[[int, dict], None] | None = None,
                 resume: dict | None = None, item_classes=None) -> list[float]:
    """Fit ``finder`` on prepared scans (see the finder's ``prepare``: tensors, or memory-mapped
    arrays read a batch at a time; ``item_classes``: their class maps, for a finder that names
    classes) as the item stage's config says (steps, batch, lr, weight_decay); the loss of every
    step. ``checkpoint(step, state)`` is called every tenth of the steps with what ``resume`` takes
    back (the finder, optimiser and schedule states)."""
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(finder.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.lr, total_steps=recipe.steps,
                                                   pct_start=0.1)
    start = 0
    if resume is not None:
        finder.load_state_dict(resume["finder"])
        optimizer.load_state_dict(resume["optimizer"])
        schedule.load_state_dict(resume["schedule"])
        start = int(resume["step"])
    generator = torch.Generator().manual_seed(seed + start)  # a resumed stage samples on from its step
    every = max(1, recipe.steps // CHECKPOINTS_PER_STAGE)
    finder.train()
    losses = []
    bar = progress_of("item stage", recipe.steps - start, "steps")
    for step in range(start, recipe.steps):
        index = torch.randint(0, len(images), (min(recipe.batch, len(images)),), generator=generator).numpy()
        x, y = _rows(images, index).float().to(device), _rows(objects, index).long().to(device)
        named = None if item_classes is None else _rows(item_classes, index).long().to(device)
        turns, flip = (int(v) for v in torch.randint(0, 4, (2,), generator=generator))
        views = [torch.rot90(t, turns, (-2, -1)) for t in (x, y, named) if t is not None]
        if flip % 2:
            views = [t.flip(-1) for t in views]
        loss = finder.loss(*views)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        bar.set_postfix_str(f"loss {np.mean(losses[-50:]):.4f}", refresh=False)  # the last 50 steps'
        bar.update()
        if checkpoint is not None and (step + 1) % every == 0 and step + 1 < recipe.steps:
            checkpoint(step + 1, {"finder": finder.state_dict(), "optimizer": optimizer.state_dict(),
                                  "schedule": schedule.state_dict()})
    bar.close()
    return losses


@dataclass
class FinderScore:
    """How well a finder found a split's items: recall at IoU ≥ 0.5, mean mask IoU of the matched
    items, found items matching no true item, its wall time per scan and, for a finder that names
    classes, the share of matched items named as their true class."""

    n_true: int
    n_found: int
    recall: float | None
    mask_iou: float | None
    spurious: int
    seconds_per_scan: float
    class_accuracy: float | None = None

    def as_dict(self, prefix: str = "") -> dict:
        return {f"{prefix}{k}": v for k, v in self.__dict__.items()}


@dataclass
class FoundScans:
    """What a finder found in a split's scans, by scan id: each instance map (int16, 0 = none) and,
    for a finder that names classes, each found item's class (a unicode array in id order)."""

    maps: dict[str, np.ndarray]
    classes: dict[str, np.ndarray]


@torch.no_grad()
def find_and_score(finder: nn.Module, scans, modality: str, device: torch.device
                   ) -> tuple[FoundScans, FinderScore]:
    """The items ``finder`` finds in each of ``scans`` (an iterable: one scan in memory at a time;
    the finder sees ``modality``) and how they match the scans' true items (and their classes)."""
    finder.eval()
    found, ious, n_true, n_found, spurious = FoundScans({}, {}), [], 0, 0, 0
    named, right = 0, 0
    start, count = time.perf_counter(), 0
    for scan in scans:
        image = torch.from_numpy(build_input(scan, modality))[None].to(device)
        items: FoundItems = finder.find(image)[0]
        masks = items.masks()
        match = match_items(masks, scan.objects, scan.n_objects)
        ious.extend(match.iou_of_truth[match.found_truth].tolist())
        n_true, n_found = n_true + scan.n_objects, n_found + len(masks)
        spurious += int((match.truth_of_found < 0).sum())
        found.maps[scan.scan_id] = items.objects.cpu().numpy().astype(np.int16)
        if items.classes is not None:
            found.classes[scan.scan_id] = np.array(items.classes, dtype=np.str_).reshape(-1)
            for index, truth in enumerate(match.truth_of_found.tolist()):
                if truth >= 0 and scan.object_class is not None:
                    named += 1
                    right += int(items.classes[index] == str(scan.object_class[truth]))
        count += 1
    elapsed = (time.perf_counter() - start) / max(count, 1)
    return found, FinderScore(n_true, n_found, len(ious) / n_true if n_true else None,
                              float(np.mean(ious)) if ious else None, spurious, elapsed,
                              right / named if named else None)


def finder_spec(config: ItemStageConfig, classes: list[str] | tuple[str, ...] = ()) -> dict:
    """What build_finder needs to rebuild the configured finder: its name and arguments
    (``classes``: the item classes it names, where the config lets it name them)."""
    kwargs: dict = {"modality": config.modality}
    if config.finder == "unet":
        kwargs.update(scale=config.scale, min_item_px=config.min_item_px, encoder=config.encoder,
                      peak_relative=config.peak_relative, center_loss=config.center_loss)
        if config.center != "centroid":  # a spec without it is a centroid one (stages before it)
            kwargs["center"] = config.center
        if config.item_threshold != 0.5:  # a spec without it keeps 0.5 (stages before it)
            kwargs["item_threshold"] = config.item_threshold
        if config.names_classes and classes:  # a spec without them names none (stages before them)
            kwargs["classes"] = list(classes)
    else:
        kwargs.update(image_size=config.image_size, score_threshold=config.score_threshold)
    return {"name": config.finder, "kwargs": kwargs}


def prepared_scans(study: StudyConfig, finder: nn.Module, spec: dict, ids: list[str]
                   ) -> dict[str, np.ndarray]:
    """The finder's training inputs of scans ``ids`` (prepared by its ``prepare``: shrunk for the
    light finder) in the node's cache, written one scan at a time and memory-mapped: training reads
    a batch at a time, and no process holds the split. Keys ``images``, ``objects`` and, for a
    finder that names classes, ``item_classes`` (its class maps)."""
    archive = Archive(study.data.archive)
    modality = spec["kwargs"]["modality"]
    identity = {"format": CACHE_FORMAT, "prepared": 3, "archive": archive.uri, "ids": ids, "finder": spec}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    sizes = {r["scan_id"]: (r["height"], r["width"]) for r in
             archive.manifest.select(["scan_id", "height", "width"]).to_pylist()}
    canvas = (max(sizes[i][0] for i in ids), max(sizes[i][1] for i in ids))
    air = torch.tensor(modality_air(modality)).view(-1, 1, 1)

    def rows():
        for scan_id in ids:
            scan = archive.read(scan_id)
            image, objects = on_canvas(torch.from_numpy(build_input(scan, modality)),
                                       torch.from_numpy(scan.objects.astype(np.int64)), canvas, air)
            small, labels = finder.prepare(image[None], objects[None])
            row = {"images": small[0].half().numpy(), "objects": labels[0].to(torch.int16).numpy()}
            if finder.classes:
                named = finder.class_map(objects, [] if scan.object_class is None else scan.object_class)
                row["item_classes"] = finder.prepare(image[None], named[None])[1][0].to(torch.int16).numpy()
            yield row

    return cached_rows(cache_root(study.data.cache), f"dualscan-finder-{key}", rows, len(ids))


def on_canvas(image: torch.Tensor, objects: torch.Tensor, canvas: tuple[int, int], air: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """A C×H×W scan and its H×W instance map padded to ``canvas`` (bottom and right): air (each
    channel's value with nothing in the beam) and no item, so that scans of differing sizes train
    together as the scanner would have seen them on a longer belt."""
    pad_h, pad_w = canvas[0] - image.shape[-2], canvas[1] - image.shape[-1]
    if pad_h == 0 and pad_w == 0:
        return image, objects
    padded = F.pad(image - air, (0, pad_w, 0, pad_h)) + air
    return padded, F.pad(objects, (0, pad_w, 0, pad_h))


def _checkpointer(stage: ModelDirectory) -> Callable[[int, dict], None]:
    """Writes the stage's checkpoint: the finder's weights, optimiser and schedule, and the step."""
    checkpoint = stage.stage_checkpoint

    def save(step: int, state: dict) -> None:
        checkpoint.write_weights(state["finder"])
        checkpoint.write_resume({"step": step}, state["optimizer"], state["schedule"])  # the step last

    return save


def _resumable(stage: ModelDirectory, spec: dict) -> dict | None:
    """The stage's checkpoint, when a run of the same finder left one (its step, states)."""
    checkpoint = stage.stage_checkpoint
    progress = checkpoint.progress()
    if progress is None or not stage.has(CONFIG_FILE):
        return None
    if stage.config().get("finder") != spec:  # another finder's: start afresh
        return None
    return {"step": progress["step"], "finder": checkpoint.state_dict(),
            "optimizer": checkpoint.optimizer_state(), "schedule": checkpoint.schedule_state()}


def run_item_stage(study: StudyConfig, directory: str, device: torch.device | None = None) -> dict:
    """Train the study's item finder on its train scans, find the items of val and test, and write
    ``directory``: model.pt, config.json, metrics.json (recall at IoU ≥ 0.5, mask IoU, spurious
    items, seconds per scan, per split; where and on what it trained) and found.npz (each val and
    test scan's found instance map, key ``SPLIT/SCAN_ID``). Every trial of the study cuts its items
    from these. A stage cut short resumes from its last checkpoint (``checkpoint/``)."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = study.items
    archive = Archive(study.data.archive)
    ids = split_ids(study.data, archive)
    spec = finder_spec(config, archive.item_classes(ids["train"]) if config.names_classes else ())
    finder = build_finder(spec, config.weights).to(device)
    stage = ModelDirectory(directory)
    resume = _resumable(stage, spec)
    stage.write_json(CONFIG_FILE, {"finder": spec, "items": config.model_dump(mode="json"),
                                   "archive": archive.uri})
    start = time.perf_counter()
    prepared = prepared_scans(study, finder, spec, ids["train"])
    losses = train_finder(finder, prepared["images"], prepared["objects"], config, device,
                          seed=study.training.seed, checkpoint=_checkpointer(stage), resume=resume,
                          item_classes=prepared.get("item_classes"))
    metrics: dict = {"train_seconds": time.perf_counter() - start,
                     "train_loss_first": float(np.mean(losses[:20])) if losses else None,
                     "train_loss_last": float(np.mean(losses[-20:])) if losses else None,
                     "train_loss_curve": loss_curve(losses, resume["step"] if resume else 0),
                     "n_train_scans": len(ids["train"]),
                     "resumed_from_step": resume["step"] if resume else 0,
                     "trained_on": {"host": socket.gethostname(), "pid": os.getpid(), "device": str(device)}}
    stage.write_weights(finder.state_dict())
    return _find_splits(finder, config.modality, study, directory, metrics, device)


def loss_curve(losses: list[float], start: int = 0, points: int = LOSS_CURVE_POINTS) -> list[list[float]]:
    """[step, mean loss] over ``points`` equal stretches of the steps trained (the first at step
    ``start`` + 1): the stage's learning curve in its metrics."""
    if not losses:
        return []
    edges = np.linspace(0, len(losses), min(points, len(losses)) + 1).round().astype(int)
    return [[start + int(b), float(np.mean(losses[a:b]))] for a, b in itertools.pairwise(edges)]


def refind_items(study: StudyConfig, directory: str, device: torch.device | None = None) -> dict:
    """Find the items again with a trained stage's finder (after a change to how it separates
    items, or for a recipe that trains on found masks) and rewrite its found.npz and their
    metrics; training is not repeated."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    finder, spec = load_finder(directory, device)
    metrics = ModelDirectory(directory).metrics()
    # the figures of every split an earlier find may have scored: found again or not at all
    scored = {f"{split}_{f.name}" for split in SPLITS if split for f in fields(FinderScore)}
    kept = {k: v for k, v in metrics.items() if k not in scored}
    return _find_splits(finder, spec["kwargs"]["modality"], study, directory, kept, device)


def found_splits(study: StudyConfig) -> tuple[str, ...]:
    """The splits whose items the stage finds: val and test, and train when the recipe trains on
    found masks."""
    return ("train", "val", "test") if study.recipe.train_masks != "true" else ("val", "test")


def _find_splits(finder: nn.Module, modality: str, study: StudyConfig, directory: str, metrics: dict,
                 device: torch.device) -> dict:
    """Find and score the items of ``found_splits``; write found.npz and metrics.json (with ``metrics``)."""
    archive = Archive(study.data.archive)
    ids = split_ids(study.data, archive)
    found: dict[str, np.ndarray] = {}
    metrics = dict(metrics)
    for split in found_splits(study):
        scans, score = find_and_score(finder, (archive.read(i) for i in ids[split]), modality, device)
        metrics.update(score.as_dict(f"{split}_"))
        found.update({f"{split}/{scan_id}": labels for scan_id, labels in scans.maps.items()})
        found.update({f"{CLASSES_KEY}/{split}/{scan_id}": names for scan_id, names in scans.classes.items()})
    stage = ModelDirectory(directory)
    stage.write_found(found)
    stage.write_json(METRICS_FILE, metrics)  # last: a stage with it is whole (STAGE_FILES)
    return metrics


def found_masks(directory: str, split: str) -> dict[str, list[np.ndarray]]:
    """The masks an item stage found in each scan of ``split`` (val, test, or train when it found
    train's), by scan id."""
    return {scan_id: [labels == i for i in range(1, int(labels.max()) + 1)]
            for scan_id, labels in ModelDirectory(directory).found(split).items()}


StageRunner = Callable[[StudyConfig, str], dict]


def ensure_item_stage(config: StudyConfig, directory: str, train: bool = True,
                      runner: StageRunner | None = None) -> StudyConfig:
    """The config with ``items.directory`` set when the space has item-first pipelines: the one
    given, else ``directory``, trained there first (by ``runner``, default this process: a study
    runs it as a Ray task) unless it holds a trained stage already; one cut short resumes."""
    if config.items.directory or not any(PIPELINES[p].item_first for p in config.space.pipelines):
        return config
    if not all(ModelDirectory(directory).has(name) for name in STAGE_FILES):  # metrics.json is written last
        if not train:
            raise FileNotFoundError(f"{directory}: no trained item stage to resume with")
        print(f"item stage: training the {config.items.finder} finder on the train split → {directory}",
              flush=True)
        metrics = (runner or run_item_stage)(config, directory)
        print("item stage: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in metrics.items()), flush=True)
    elif "train" in found_splits(config) and not found_masks(directory, "train"):
        if not train:
            raise FileNotFoundError(f"{directory}: the item stage found no train items, which "
                                    f"recipe.train_masks {config.recipe.train_masks!r} needs")
        print(f"item stage: finding the train split's items too (recipe.train_masks "
              f"{config.recipe.train_masks!r}) → {directory}", flush=True)
        refind_items(config, directory)
    return config.model_copy(update={"items": config.items.model_copy(update={"directory": directory})})
