"""A trained item stage on disk: its directory's files, and its finder rebuilt from them."""

from __future__ import annotations

import json

import torch
from torch import nn

from models.catalog import ITEM_FINDERS
from models.model_dir import CONFIG_FILE, FOUND_FILE, METRICS_FILE, WEIGHTS_FILE, ModelDirectory

# model.pt: the finder's state dict; config.json: {"finder": {"name", "kwargs"}, "items": the study's
# item-stage config}; metrics.json: recall and mask IoU per split; found.npz: val's and test's items
STAGE_FILES = (WEIGHTS_FILE, CONFIG_FILE, METRICS_FILE, FOUND_FILE)


def build_finder(spec: dict, weights: str | None = None) -> nn.Module:
    """An untrained finder from ``{"name": ITEM_FINDERS name, "kwargs": {...}}``, started from the
    local file ``weights`` when given (not part of the spec: a trained stage rebuilds without it)."""
    kwargs = dict(spec.get("kwargs", {}))
    if weights is not None:
        kwargs["weights"] = weights
    return ITEM_FINDERS[spec["name"]](**kwargs)


def stage_classes(directory: str) -> tuple[str, ...]:
    """The item classes a trained stage's finder names (none for a finder that names none)."""
    stage = ModelDirectory(directory)
    try:
        spec = json.loads(stage.read(CONFIG_FILE))["finder"]
    except (OSError, json.JSONDecodeError, KeyError) as err:
        raise ValueError(f"{stage.uri_of(CONFIG_FILE)}: no finder spec ({err})") from None
    return tuple(spec.get("kwargs", {}).get("classes", ()))


def load_finder(directory: str, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """The finder of a trained item stage (weights_only) in eval mode, and its spec."""
    stage = ModelDirectory(directory)
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        if not stage.has(name):
            raise FileNotFoundError(f"{stage.uri_of(name)} does not exist: an item stage directory "
                                    f"holds {', '.join(STAGE_FILES)}")
    try:
        spec = json.loads(stage.read(CONFIG_FILE))["finder"]
    except (json.JSONDecodeError, KeyError) as err:
        raise ValueError(f"{stage.uri_of(CONFIG_FILE)}: no finder spec ({err})") from None
    finder = build_finder(spec)
    finder.load_state_dict(stage.state_dict())
    return finder.to(device).eval(), spec
