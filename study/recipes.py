"""The recipe a trial trains by, as it runs: its optimizer (SGD with momentum, Adam or AdamW), its
schedule, learning rate, weight decay, batch, budget and weight file; built and recorded in one place."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import asdict

import torch

from models.catalog import PIPELINES
from models.inputs import numerics_of
from models.spec import ModelSpec
from study.config import StudyConfig

PAPER_MOMENTUM = 0.9  # SGD's momentum when training.momentum is left out


def make_optimizer(name: str, params: Iterable[torch.nn.Parameter], lr: float, momentum: float | None,
                   weight_decay: float) -> torch.optim.Optimizer:
    """``name`` (sgd, adam, adamw) over the parameters that train; SGD takes ``momentum`` (0.9 when None)."""
    params = [p for p in params if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=PAPER_MOMENTUM if momentum is None else momentum,
                               weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; valid: sgd, adam, adamw")


def file_sha256(path: str) -> str:
    """The sha256 of a local file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run_of(trial: dict, recipe: dict, training: dict) -> dict:
    """The recipe a trial (its fields as a dict) trains by, from its study's recipe and training
    sections (dicts): optimizer, schedule, learning rate, weight decay, batch, budget, momentum."""
    if PIPELINES.declared(trial["pipeline"]).item_first:
        run = {"optimizer": trial["optimizer"], "schedule": recipe["schedule"], "lr": trial["lr"],
               "weight_decay": recipe["weight_decay"], "batch": trial["batch_size"], "steps": recipe["steps"],
               "warmup": recipe.get("warmup") if recipe["schedule"] == "onecycle" else None}
    else:
        run = {"optimizer": trial["optimizer"], "schedule": "constant", "lr": trial["lr"],
               "weight_decay": training["weight_decay"], "batch": trial["batch_size"],
               "epochs": trial["epochs"]}
    momentum = training.get("momentum")
    sgd = trial["optimizer"] == "sgd"
    run["momentum"] = (PAPER_MOMENTUM if momentum is None else momentum) if sgd else None
    return run


def recipe_run(study: StudyConfig, trial: ModelSpec, device: torch.device) -> dict:
    """What the trial trains by on ``device``, as recorded beside its weights (config.json's
    ``training_run``: with ``numerics``, the precision its scores, and so val's threshold, were
    computed in) and shown in the study's results and the model card."""
    run = _run_of(asdict(trial), study.recipe.model_dump(), study.training.model_dump())
    run["numerics"] = numerics_of(device, study.training.amp)
    run["weights"] = trial.weights
    run["weights_sha256"] = (file_sha256(trial.weights) if trial.weights and os.path.isfile(trial.weights)
                             else None)
    return run


def configured_run(study: dict, trial: dict) -> dict | None:
    """What a model's config.json says it trained by, for a model trained before the run itself was
    recorded: its trial and its study's recipe and training sections, read as they are (an older
    config may hold keys the schema has since dropped); no numerics (the device is not known);
    None where the config says too little."""
    try:
        run = _run_of(trial, study.get("recipe") or {}, study.get("training") or {})
    except (KeyError, TypeError, ValueError):
        return None
    return {**run, "numerics": None, "weights": trial.get("weights"), "weights_sha256": None}


def describe_run(run: dict | None) -> str:
    """One line for people: ``SGD (momentum 0.9), lr 0.0002 constant, weight decay 0, batch 64, 15000
    steps; random init``."""
    if not run:
        return "training recipe not recorded, nor its config (the model was trained before either was)"
    optimizer = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}.get(run["optimizer"], run["optimizer"])
    if run.get("momentum") is not None:
        optimizer += f" (momentum {run['momentum']:g})"
    budget = f"{run['steps']} steps" if run.get("steps") is not None else f"{run.get('epochs')} epochs"
    schedule = run["schedule"] + (f" ({run['warmup']:g} warm-up)" if run.get("warmup") else "")
    weights = ("random init" if not run.get("weights") else
               f"from `{run['weights']}`" + (f" (sha256 {run['weights_sha256'][:16]}…)"
                                             if run.get("weights_sha256") else ""))
    numerics = f"; scores in {run['numerics']}" if run.get("numerics") else ""
    return (f"{optimizer}, lr {run['lr']:g} {schedule}, weight decay {run['weight_decay']:g}, "
            f"batch {run['batch']}, {budget}; {weights}{numerics}")
