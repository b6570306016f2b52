"""Training an item sub-component model on balanced tiles: the recipe's steps, schedule and mining."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from models.catalog import OPTIMIZERS
from models.items.object_model import ItemObjectModel
from models.subcomponent.items import ItemSubcomponentModel
from scans.progress import progress_of
from study.config import RecipeConfig
from study.items.data import ItemSet
from study.items.tiles import TileSampler, augment, augment_crop
from study.recipes import make_optimizer


class Recipe(RecipeConfig):
    """The study's recipe (RecipeConfig: its fields, defaults and checks) with what a trial sets:
    ``batch`` tiles a step, ``optimizer`` (SGD with ``momentum``, Adam or AdamW) at ``lr`` on the
    recipe's schedule (one-cycle: ``warmup`` share of the steps rising, cosine decay after; or
    constant)."""

    batch: int = Field(default=16, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    optimizer: Literal[OPTIMIZERS] = "adamw"
    momentum: float | None = Field(default=None, ge=0, lt=1)  # SGD's; None: 0.9


@dataclass
class StepLog:
    """Train loss and wall time at each evaluation."""

    step: int
    loss: float
    seconds: float


def build_item_optimizer(model: torch.nn.Module, recipe: Recipe):
    """The recipe's optimizer and its schedule (stepped once per training step)."""
    optimizer = make_optimizer(recipe.optimizer, model.parameters(), recipe.lr, recipe.momentum,
                               recipe.weight_decay)
    if recipe.schedule == "onecycle":
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=recipe.steps,
                                                       pct_start=max(recipe.warmup, 1e-3))
    else:
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return optimizer, schedule


def run_steps(model: torch.nn.Module, recipe: Recipe, optimizer, schedule, start_step: int,
               step_loss: Callable[[int], torch.Tensor], on_eval: Callable[[int, StepLog], str | None],
               label: str = "train") -> None:
    """Steps ``start_step``..``recipe.steps`` of ``step_loss(step)``, an optimiser and schedule step
    each; ``on_eval`` after every ``eval_every`` steps and at the end (what it returns, the val
    figure, is shown). Progress as ``label``: a bar on a terminal, else a line at most every 30 s,
    each with the rate, the time left, the loss since the last val pass and the last val figure."""
    model.train()
    total, count, started = 0.0, 0, time.perf_counter()
    bar, shown = progress_of(label, recipe.steps - start_step, "steps"), ""
    for step in range(start_step, recipe.steps):
        loss = step_loss(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        total, count = total + loss.item(), count + 1
        done = step + 1
        bar.set_postfix_str(f"loss {total / count:.4f}{shown}", refresh=False)
        bar.update()
        if done % recipe.eval_every == 0 or done == recipe.steps:
            figure = on_eval(done, StepLog(done, total / max(count, 1), time.perf_counter() - started))
            shown = f", {figure} at step {done}" if figure else shown
            total, count = 0.0, 0
            model.train()
    bar.close()


@torch.no_grad()
def mine_hard_negatives(model: ItemSubcomponentModel, sampler: TileSampler, n_items: int,
                        rng: np.random.Generator, device: torch.device) -> None:
    """Score ``n_items`` random benign training items whole; remember where each scores highest."""
    items = sampler.items
    benign = np.flatnonzero(~items.anomalous)
    if benign.size == 0:
        return
    was_training = model.training
    model.eval()
    px = sampler.item_px
    for i in rng.choice(benign, size=min(n_items, benign.size), replace=False):
        crop = items.crop(int(i))  # the stored crop: the sampler's coordinates
        out = model(model.assemble(crop.image[None], crop.mask[None]).to(device), crop.mask[None].to(device),
                    torch.tensor([float(px[i])], device=device),
                    item_class=model.class_index([items.named_class[i]]))
        probs = out.probs.masked_fill(~out.inside[out.classified], -1.0)
        best = int(out.classified[int(probs.argmax())])
        cx, cy = out.segments.centroid[best].tolist()
        sampler.remember(int(i), int(cy), int(cx))
    model.train(was_training)


def train_item_model(model: ItemSubcomponentModel, train: ItemSet, recipe: Recipe, device: torch.device,
                     on_eval: Callable[[int, StepLog], None], seed: int = 0, start_step: int = 0,
                     optimizer=None, schedule=None) -> None:
    """Train for ``recipe.steps``; ``on_eval(step, log)`` after every ``eval_every`` steps and at
    the end (it scores val, checkpoints, reports)."""
    torch.manual_seed(seed)
    sampler = TileSampler(train, recipe.tile, model.air, seed, frame=model.input.frame,
                          overview=model.air if model.overview is not None else None,
                          negatives=recipe.negatives, classes=model.class_index(train.named_class))
    rng = np.random.default_rng(seed + 1)
    generator = torch.Generator().manual_seed(seed + 2)
    if optimizer is None:
        optimizer, schedule = build_item_optimizer(model, recipe)

    def step_loss(step: int) -> torch.Tensor:
        if recipe.hard and step and step % recipe.mine_every == 0:
            mine_hard_negatives(model, sampler, recipe.mine_items, rng, device)
        tiles, _ = sampler.sample(recipe.batch, recipe.positive, recipe.hard)
        batch = augment(tiles, recipe.augment, model.air, generator, model.thickness).to(device)
        out = model(model.assemble(batch.images, batch.masks, batch.frames), batch.masks, batch.item_px,
                    anomaly=batch.anomaly, overviews=batch.overviews, item_class=batch.item_class)
        return model.loss(out, batch.anomaly, batch.masks, batch.parts).total

    run_steps(model, recipe, optimizer, schedule, start_step, step_loss, on_eval)


def train_object_model(model: ItemObjectModel, train: ItemSet, recipe: Recipe, device: torch.device,
                       on_eval: Callable[[int, StepLog], None], seed: int = 0, start_step: int = 0,
                       optimizer=None, schedule=None) -> None:
    """The object-level baseline on the same budget: ``recipe.steps`` batches of ``recipe.batch``
    whole items, half of them anomalous (``recipe.positive``), augmented like the tiles."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 1)
    generator = torch.Generator().manual_seed(seed + 2)
    positive, negative = np.flatnonzero(train.anomalous), np.flatnonzero(~train.anomalous)
    if positive.size == 0 or negative.size == 0:
        raise ValueError("the object-level pipeline needs anomalous and benign training items")
    if optimizer is None:
        optimizer, schedule = build_item_optimizer(model, recipe)

    def step_loss(step: int) -> torch.Tensor:
        labels = rng.random(recipe.batch) < recipe.positive
        crops = [train.crop(int(rng.choice(positive if a else negative)), model.input.margin) for a in labels]
        jittered = [augment_crop(c.image, c.mask, recipe.augment, model.air, generator, model.thickness)
                    for c in crops]
        inputs = model.prepare(*(list(column) for column in zip(*jittered, strict=True))).to(device)
        return F.cross_entropy(model(inputs).float(), torch.from_numpy(labels).long().to(device))

    run_steps(model, recipe, optimizer, schedule, start_step, step_loss, on_eval)
