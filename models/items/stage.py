"""A trained item stage on disk: its directory's files, and its finder rebuilt from them."""

from __future__ import annotations

import io
import json

import torch
from torch import nn

from models.items.finders import ITEM_FINDERS
from scans.storage import locate

ITEM_STAGE_DIR = "items"  # RUN_DIR/items, or a model directory's items/: the item stage
# model.pt: the finder's state dict; config.json: {"finder": {"name", "kwargs"}, "items": the study's
# item-stage config}; metrics.json: recall and mask IoU per split; found.npz: val's and test's items
STAGE_FILES = ("model.pt", "config.json", "metrics.json", "found.npz")


def build_finder(spec: dict) -> nn.Module:
    """An untrained finder from ``{"name": ITEM_FINDERS name, "kwargs": {...}}``."""
    return ITEM_FINDERS[spec["name"]](**spec.get("kwargs", {}))


def load_finder(directory: str, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """The finder of a trained item stage (weights_only) in eval mode, and its spec."""
    where = locate(directory)
    for name in ("model.pt", "config.json"):
        if not where.exists(name):
            raise FileNotFoundError(f"{where.uri_of(name)} does not exist: an item stage directory "
                                    f"holds {', '.join(STAGE_FILES)}")
    try:
        spec = json.loads(where.read_bytes("config.json"))["finder"]
    except (json.JSONDecodeError, KeyError) as err:
        raise ValueError(f"{where.uri_of('config.json')}: no finder spec ({err})") from None
    finder = build_finder(spec)
    state = torch.load(io.BytesIO(where.read_bytes("model.pt")), map_location="cpu", weights_only=True)
    finder.load_state_dict(state)
    return finder.to(device).eval(), spec
