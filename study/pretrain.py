"""Physics pretraining: a dense U-Net learns to read materials and items from simulated scans, labels free.

The simulator knows, for every pixel, each material's areal density before the detector. A dense
encoder-decoder trained to predict those (log(1 + g/cm²)) and the item's class from the scan's
inputs has learnt X-ray physics and item layouts from unlimited data, with nothing downloaded;
its weights (a ``DenseFeatures`` state dict) start the sub-component pipeline's features
(``training.weights``). The scenes come from their own seed, never from an archive's scans.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np
import torch

from models.model_dir import ModelDirectory
from models.pretext import PhysicsPretextNet, pretext_loss
from scans.modalities import build_input, modality_air, modality_channels, modality_thickness
from scans.phantoms.anomalies import ANOMALY_ONLY_MATERIALS
from scans.phantoms.worlds import WORLDS
from scans.physics.forward import all_materials
from scans.physics.materials import material_index
from scans.synth import SynthConfig, one_thread_per_library, synth_scene
from study.config import AugmentConfig
from study.items.tiles import jittered, turned_alike
from study.items.train import Recipe, build_item_optimizer, run_steps
from study.pretrain_config import PretrainConfig


@dataclass
class PretextTiles:
    """(N, C, T, T) float16 inputs (masked to air, or with their context), (N, M, T, T) float16 log
    areal densities inside the item, (N, T, T) int16 item classes and (N, T, T) bool item masks."""

    images: np.ndarray
    densities: np.ndarray
    classes: np.ndarray
    masks: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def pretext_materials() -> tuple[str, ...]:
    """The materials whose areal densities pretraining learns: every registered one but those only
    anomalies are made of (a leak of the labels it must not learn)."""
    return tuple(m for m in all_materials() if m not in ANOMALY_ONLY_MATERIALS)


def item_classes(world: int) -> tuple[str, ...]:
    """Every item class the simulator's ``world`` draws, in registry order (the class targets'
    indices: world 1's are what they were before worlds existed)."""
    return tuple(WORLDS[str(world)].registry)


def _scene_tiles(args: tuple[PretrainConfig, SynthConfig, int]) -> PretextTiles | None:
    config, synth, index = args
    scan, scene = synth_scene(synth, index)
    items = np.unique(scene.objects[scene.objects > 0])
    if not items.size:
        return None
    image = build_input(scan, config.modality).astype(np.float32)
    planes = [material_index()[m] for m in pretext_materials()]
    density = np.log1p(scene.areal_density[planes]).astype(np.float32)
    air = np.asarray(modality_air(config.modality), np.float32).reshape(-1, 1, 1)
    names = {name: i for i, name in enumerate(item_classes(config.world))}
    rng = np.random.default_rng([config.seed, index, 1])
    t, half = config.tile, config.tile // 2
    out: dict[str, list[np.ndarray]] = {"images": [], "densities": [], "classes": [], "masks": []}
    for _ in range(config.tiles_per_scene):
        item = int(rng.choice(items))
        ys, xs = np.nonzero(scene.objects == item)
        pick = int(rng.integers(ys.size))
        y0 = int(np.clip(ys[pick] - half, 0, config.size - t))
        x0 = int(np.clip(xs[pick] - half, 0, config.size - t))
        window = (slice(y0, y0 + t), slice(x0, x0 + t))
        mask = scene.objects[window] == item
        seen = image[(slice(None), *window)]
        out["images"].append((seen if config.context else np.where(mask, seen, air)).astype(np.float16))
        out["densities"].append(np.where(mask, density[(slice(None), *window)], 0).astype(np.float16))
        out["classes"].append(np.full((t, t), names[scene.object_class[item - 1]], np.int16))
        out["masks"].append(mask)
    return PretextTiles(**{k: np.stack(v) for k, v in out.items()})


def pretext_synth_config(config: PretrainConfig, n: int) -> SynthConfig:
    """The simulator's settings of ``n`` pretraining scenes: benign only (pretraining sees no
    anomaly, so no material only anomalies are made of), and every scene a train scene, so that in
    a world split by model it draws only the designs train holds (val and test keep designs that
    no step of training, pretraining included, has seen)."""
    return SynthConfig(n=n, size=config.size, seed=config.seed, previews=False, world=config.world,
                       anomaly_rate=0.0, split=1.0, val=0.0)


def pretext_tiles(config: PretrainConfig, first: int, count: int, workers: int | None = None) -> PretextTiles:
    """Tiles of scenes ``first`` .. ``first + count - 1`` (each depends on the config and its index
    only), simulated over ``workers`` processes."""
    synth = pretext_synth_config(config, first + count)
    jobs = [(config, synth, i) for i in range(first, first + count)]
    workers = max(1, min(workers or os.cpu_count() or 1, count))
    if workers == 1:
        parts = [_scene_tiles(job) for job in jobs]
    else:
        with one_thread_per_library(), ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            parts = list(pool.map(_scene_tiles, jobs, chunksize=8))
    parts = [p for p in parts if p is not None]
    return PretextTiles(*(np.concatenate([getattr(p, k) for p in parts])
                          for k in ("images", "densities", "classes", "masks")))


def _augmented(batch: list[torch.Tensor], how: AugmentConfig, fill: tuple[float, ...],
               generator: torch.Generator, thickness: tuple[bool, ...], context: bool) -> list[torch.Tensor]:
    """Every tensor of a batch (images first, masks last) turned and flipped alike per tile; the
    images gain-jittered (the ``thickness`` channels) and noised, then, without ``context``, set to
    air outside the masks again."""
    if how.rotate:
        batch = turned_alike(batch, generator)
    images, *rest = batch
    images = jittered(images, how, fill, generator, thickness)
    if not context:
        air = torch.as_tensor(fill, dtype=images.dtype).view(1, -1, 1, 1)
        images = torch.where(rest[-1][:, None], images, air)
    return [images, *rest]


def _tensors(tiles: PretextTiles, index: np.ndarray) -> list[torch.Tensor]:
    return [torch.from_numpy(tiles.images[index].astype(np.float32)),
            torch.from_numpy(tiles.densities[index].astype(np.float32)),
            torch.from_numpy(tiles.classes[index].astype(np.int64)),
            torch.from_numpy(tiles.masks[index])]


@torch.no_grad()
def held_out_fit(model: PhysicsPretextNet, tiles: PretextTiles, batch: int = 32) -> dict[str, float]:
    """On held-out tiles: the density MSE, the share of the densities' variance explained (R²), and
    the item-class accuracy, all over item pixels."""
    model.eval()
    squared = total = count = correct = 0.0
    sums = np.zeros(2)
    for start in range(0, len(tiles), batch):
        images, densities, classes, masks = _tensors(tiles, np.arange(start, min(start + batch, len(tiles))))
        predicted, logits = model(images)
        inside = masks[:, None].expand_as(densities)
        target = densities[inside]
        squared += float(((predicted[inside] - target) ** 2).sum())
        sums += (float(target.sum()), float((target ** 2).sum()))
        total += target.numel()
        correct += float((logits.argmax(1) == classes)[masks].sum())
        count += float(masks.sum())
    variance = sums[1] / max(total, 1) - (sums[0] / max(total, 1)) ** 2
    mse = squared / max(total, 1)
    return {"mse": mse, "r2": 1 - mse / max(variance, 1e-12), "class_accuracy": correct / max(count, 1)}


def pretrain(config: PretrainConfig, out: str, workers: int | None = None, log=print) -> dict:
    """Simulate, train and write ``out`` (a local path or URI; ModelDirectory.write_pretrained):
    weights.pt (the DenseFeatures state dict) and pretrain.json (config, data, held-out fit per
    evaluation, wall times); returns the latter."""
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    train = pretext_tiles(config, 0, config.scenes, workers)
    held_out = pretext_tiles(config, config.scenes, config.held_out, workers)
    simulated = time.perf_counter() - started
    log(f"pretrain: {len(train)} training tiles from {config.scenes} scenes, {len(held_out)} held out "
        f"({simulated:.0f} s)")
    fill = modality_air(config.modality)
    model = PhysicsPretextNet(config.backbone, modality_channels(config.modality), fill,
                              materials=train.densities.shape[1], classes=len(item_classes(config.world)))
    recipe = Recipe(steps=config.steps, batch=config.batch, tile=config.tile, lr=config.lr,
                    eval_every=config.eval_every)
    optimizer, schedule = build_item_optimizer(model, recipe)
    rng, generator = np.random.default_rng(config.seed), torch.Generator().manual_seed(config.seed)
    curve: list[dict] = []

    def step_loss(step: int) -> torch.Tensor:
        batch = _augmented(_tensors(train, rng.integers(0, len(train), config.batch)), config.augment,
                           fill, generator, modality_thickness(config.modality), config.context)
        densities, logits = model(batch[0])
        loss, _ = pretext_loss(densities, logits, batch[1], batch[2], batch[3], config.class_weight)
        return loss

    def on_eval(step: int, logged) -> str:
        fit = held_out_fit(model, held_out)
        curve.append({"step": step, "train_loss": logged.loss, "seconds": logged.seconds, **fit})
        log(f"pretrain step {step}: train loss {logged.loss:.4f}, held-out R² {fit['r2']:.3f}, "
            f"class accuracy {fit['class_accuracy']:.3f} ({logged.seconds:.0f} s)")
        return f"held-out R² {fit['r2']:.3f}"

    run_steps(model, recipe, optimizer, schedule, 0, step_loss, on_eval, label="pretrain")
    record = {"config": config.model_dump(mode="json"),
              "data": {"train_tiles": len(train), "held_out_tiles": len(held_out), "simulate_s": simulated,
                       "materials": list(pretext_materials()),
                       "item_classes": list(item_classes(config.world))},
              "curve": curve, "wall_s": time.perf_counter() - started}
    ModelDirectory(out).write_pretrained(model.dense.state_dict(), record)
    return record
