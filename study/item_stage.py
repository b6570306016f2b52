"""The item stage of a study: one item finder trained on train scans, scored on val and test, and
its found items cut for every trial (never trained once per trial)."""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from models.items.finders import ITEM_FINDERS, FoundItems
from models.items.matching import match_items
from scans.archive import Archive
from scans.modalities import build_input
from scans.storage import locate
from study.config import ItemStageConfig, StudyConfig
from study.data import split_ids
from study.pipelines import PIPELINES


@dataclass(frozen=True)
class FinderRecipe:
    """``steps`` AdamW steps at ``lr`` (cosine decay) on random batches of ``batch`` prepared
    scans, with random 90° turns and flips."""

    steps: int = 400
    batch: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4


def train_finder(finder: nn.Module, images: torch.Tensor, objects: torch.Tensor, recipe: FinderRecipe,
                 device: torch.device, seed: int = 0) -> list[float]:
    """Fit ``finder`` on prepared scans (see the finder's ``prepare``); the loss of every step."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(finder.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.lr, total_steps=recipe.steps,
                                                   pct_start=0.1)
    finder.train()
    losses = []
    for _ in range(recipe.steps):
        index = torch.randint(0, len(images), (min(recipe.batch, len(images)),), generator=generator)
        x, y = images[index].float().to(device), objects[index].long().to(device)
        turns, flip = (int(v) for v in torch.randint(0, 4, (2,), generator=generator))
        x, y = torch.rot90(x, turns, (-2, -1)), torch.rot90(y, turns, (-2, -1))
        if flip % 2:
            x, y = x.flip(-1), y.flip(-1)
        loss = finder.loss(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses


@dataclass
class FinderScore:
    """How well a finder found a split's items: recall at IoU ≥ 0.5, mean mask IoU of the matched
    items, found items matching no true item, and its wall time per scan."""

    n_true: int
    n_found: int
    recall: float | None
    mask_iou: float | None
    spurious: int
    seconds_per_scan: float

    def as_dict(self, prefix: str = "") -> dict:
        return {f"{prefix}{k}": v for k, v in self.__dict__.items()}


@torch.no_grad()
def find_and_score(finder: nn.Module, scans: list, images: list[np.ndarray], device: torch.device
                   ) -> tuple[list[list[np.ndarray]], FinderScore]:
    """The items ``finder`` finds in each scan (its full-resolution input image, C×H×W) as masks,
    and how they match the scans' true items."""
    finder.eval()
    masks, ious, n_true, n_found, spurious = [], [], 0, 0, 0
    start = time.perf_counter()
    for scan, image in zip(scans, images, strict=True):
        found: FoundItems = finder.find(torch.from_numpy(np.asarray(image, np.float32))[None].to(device))[0]
        one = found.masks()
        masks.append(one)
        match = match_items(one, scan.objects, scan.n_objects)
        ious.extend(match.iou_of_truth[match.found_truth].tolist())
        n_true, n_found = n_true + scan.n_objects, n_found + len(one)
        spurious += int((match.truth_of_found < 0).sum())
    elapsed = (time.perf_counter() - start) / max(len(scans), 1)
    return masks, FinderScore(n_true, n_found, len(ious) / n_true if n_true else None,
                              float(np.mean(ious)) if ious else None, spurious, elapsed)


STAGE_FILES = ("model.pt", "config.json", "metrics.json", "found.npz")
ITEM_STAGE_DIR = "items"  # RUN_DIR/items, or a model directory's items/: the item stage


def build_finder(config: ItemStageConfig) -> nn.Module:
    """The configured finder, untrained."""
    if config.finder == "unet":
        return ITEM_FINDERS["unet"](modality=config.modality, scale=config.scale,
                                    min_item_px=config.min_item_px)
    return ITEM_FINDERS[config.finder](modality=config.modality)


def _prepared(finder: nn.Module, scans: list, modality: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, objects = [], []
    for scan in scans:
        image = torch.from_numpy(build_input(scan, modality))[None]
        small, labels = finder.prepare(image, torch.from_numpy(scan.objects.astype(np.int64))[None])
        images.append(small[0].half())
        objects.append(labels[0].to(torch.int16))
    return torch.stack(images), torch.stack(objects)


def run_item_stage(study: StudyConfig, directory: str, device: torch.device | None = None) -> dict:
    """Train the study's item finder on its train scans, find the items of val and test, and write
    ``directory``: model.pt, config.json, metrics.json (recall at IoU ≥ 0.5, mask IoU, spurious
    items, seconds per scan, per split) and found.npz (each val and test scan's found instance
    map, key ``SPLIT/SCAN_ID``). Every trial of the study cuts its items from these."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = study.items
    archive = Archive(study.data.archive)
    ids = split_ids(study.data, archive)
    finder = build_finder(config).to(device)
    start = time.perf_counter()
    images, objects = _prepared(finder, [archive.read(i) for i in ids["train"]], config.modality)
    recipe = FinderRecipe(steps=config.steps, batch=config.batch, lr=config.lr)
    losses = train_finder(finder, images, objects, recipe, device, seed=study.training.seed)
    metrics: dict = {"train_seconds": time.perf_counter() - start,
                     "train_loss_last": float(np.mean(losses[-20:])),
                     "n_train_scans": len(ids["train"])}
    found: dict[str, np.ndarray] = {}
    for split in ("val", "test"):
        scans = [archive.read(i) for i in ids[split]]
        masks, score = find_and_score(finder, scans, [build_input(s, config.modality) for s in scans], device)
        metrics.update(score.as_dict(f"{split}_"))
        for scan, one in zip(scans, masks, strict=True):
            labels = np.zeros(scan.shape, np.int16)
            for i, mask in enumerate(one, start=1):
                labels[mask] = i
            found[f"{split}/{scan.scan_id}"] = labels
    where = locate(directory)
    where.makedirs()
    buffer = io.BytesIO()
    torch.save(finder.state_dict(), buffer)
    where.write_bytes("model.pt", buffer.getvalue())
    packed = io.BytesIO()
    np.savez_compressed(packed, **found)
    where.write_bytes("found.npz", packed.getvalue())
    where.write_bytes("config.json", json.dumps({"items": config.model_dump(mode="json"),
                                                 "archive": archive.uri}, indent=2).encode())
    where.write_bytes("metrics.json", json.dumps(metrics, indent=2, default=float).encode())
    return metrics


def load_finder(directory: str, device: torch.device | str = "cpu") -> tuple[nn.Module, ItemStageConfig]:
    """A trained item stage's finder (weights_only) in eval mode, and its config."""
    where = locate(directory)
    for name in ("model.pt", "config.json"):
        if not where.exists(name):
            raise FileNotFoundError(f"{where.uri_of(name)} does not exist: an item stage directory "
                                    f"holds {', '.join(STAGE_FILES)}")
    config = ItemStageConfig.model_validate(json.loads(where.read_bytes("config.json"))["items"])
    finder = build_finder(config)
    state = torch.load(io.BytesIO(where.read_bytes("model.pt")), map_location="cpu", weights_only=True)
    finder.load_state_dict(state)
    return finder.to(device).eval(), config


def found_masks(directory: str, split: str) -> dict[str, list[np.ndarray]]:
    """The masks an item stage found in each scan of ``split`` (val or test), by scan id."""
    where = locate(directory)
    with np.load(io.BytesIO(where.read_bytes("found.npz")), allow_pickle=False) as npz:
        out = {}
        for key in npz.files:
            name, scan_id = key.split("/", 1)
            if name == split:
                labels = npz[key]
                out[scan_id] = [labels == i for i in range(1, int(labels.max()) + 1)]
        return out


def with_item_stage(config: StudyConfig, directory: str, train: bool = True) -> StudyConfig:
    """The config with ``items.directory`` set when the space has item-first pipelines: the one
    given, else ``directory``, trained there first unless it holds a trained stage already."""
    if config.items.directory or not any(PIPELINES[p].item_first for p in config.space.pipelines):
        return config
    if not locate(directory).exists("model.pt"):
        if not train:
            raise FileNotFoundError(f"{directory}: no trained item stage to resume with")
        print(f"item stage: training the {config.items.finder} finder on the train split → {directory}",
              flush=True)
        metrics = run_item_stage(config, directory)
        print("item stage: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in metrics.items()), flush=True)
    return config.model_copy(update={"items": config.items.model_copy(update={"directory": directory})})
