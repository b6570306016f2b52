"""A trained model ready to score scans: built from a model directory (RUN_DIR/best, a trial's, or
an exported one)."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import torch
from torch import nn

from models.items.stage import ITEM_STAGE_DIR, load_finder
from models.pipelines import PIPELINES
from models.predictions import ScanPrediction
from models.spec import ModelSpec
from scans.storage import Location, locate

DEFAULT_THRESHOLD = 0.5
MODEL_FILES = ("model.pt", "config.json")


class ModelDirError(ValueError):
    """A model directory is missing a file or holds one that cannot be used."""


@dataclass
class TrainedModel:
    """A model in eval mode on its device, with the spec it was built from and its threshold."""

    model: nn.Module
    spec: ModelSpec
    threshold: float
    sha256: str
    uri: str
    device: torch.device
    amp: bool = True
    input_pitch_mm: float | None = None  # the pixel pitch the model was trained at, when known
    finder: nn.Module | None = None  # item-first models: the item stage's finder
    finder_modality: str | None = None
    item_score: str = "max"  # item-first sub-component models: the rule val chose

    @property
    def modality(self) -> str:
        return self.spec.modality

    @property
    def item_first(self) -> bool:
        return self.finder is not None

    @property
    def input_modality(self) -> str:
        """What decoding builds: the model's modality, then the finder's when it differs."""
        if self.item_first and self.finder_modality != self.modality:
            return f"{self.modality}+{self.finder_modality}"
        return self.modality

    @property
    def pipeline(self) -> str:
        return self.spec.pipeline

    @property
    def image_size(self) -> int | None:
        """The square size scans are resized to; None for item-first models (native pitch)."""
        return None if self.item_first else self.spec.image_size

    @torch.no_grad()
    def predict(self, images: np.ndarray | list[np.ndarray]) -> list[ScanPrediction]:
        """Segments and scores of a (B, C, S, S) float32 batch at the model's image size, or for
        item-first models of each C×H×W scan at its own size."""
        return PIPELINES[self.pipeline].predict_scans(self, images)


def _read(where: Location, name: str) -> bytes:
    if not where.exists(name):
        raise ModelDirError(f"{where.uri_of(name)} does not exist: a model directory (RUN_DIR/best or a "
                            f"trial checkpoint) holds {', '.join(MODEL_FILES)}")
    return where.read_bytes(name)


def _spec(config: dict, uri: str) -> ModelSpec:
    try:
        known = {f.name for f in fields(ModelSpec)}
        return ModelSpec(**{k: v for k, v in config["trial"].items() if k in known})
    except (KeyError, TypeError) as err:
        raise ModelDirError(f"{uri}: 'trial' is missing or incomplete ({err})") from None


def _card_threshold(where: Location) -> float | None:
    """The operating threshold the study chose (metrics.json), when there is a finite one."""
    if not where.exists("metrics.json"):
        return None
    value = json.loads(where.read_bytes("metrics.json")).get("threshold")
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def load_trained_model(uri: str, device: torch.device | str | None = None,
                       threshold: float | None = None) -> TrainedModel:
    """The model in directory ``uri`` (local path or URI), weights loaded with ``weights_only=True``.
    The threshold is ``threshold`` when given, else the study's chosen one, else 0.5."""
    where = locate(uri)
    config_uri = where.uri_of("config.json")
    try:
        config = json.loads(_read(where, "config.json"))
    except json.JSONDecodeError as err:
        raise ModelDirError(f"{config_uri}: not valid JSON ({err})") from None
    spec = replace(_spec(config, config_uri), weights=None)  # the state dict holds every weight
    weights = _read(where, "model.pt")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = PIPELINES[spec.pipeline].build(spec)
    try:
        state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as err:  # torch raises many kinds for a bad or mismatched file
        raise ModelDirError(f"{where.uri_of('model.pt')}: cannot load the weights of a {spec.pipeline} "
                            f"{spec.backbone} {spec.modality} model ({type(err).__name__}: {err})"
                            ) from None
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    chosen = threshold if threshold is not None else _card_threshold(where)
    pitch = (config.get("data") or {}).get("input_pitch_mm")
    scoring = TrainedModel(model.to(device).eval(), spec, DEFAULT_THRESHOLD if chosen is None else chosen,
                           hashlib.sha256(weights).hexdigest(), where.uri, device,
                           input_pitch_mm=float(pitch) if isinstance(pitch, int | float) and pitch > 0
                           else None)
    if PIPELINES[spec.pipeline].item_first:
        stage = _item_stage(where, config)
        try:
            scoring.finder, spec = load_finder(stage, device)
        except (FileNotFoundError, ValueError, RuntimeError) as err:
            raise ModelDirError(f"{where.uri}: its item stage {stage} cannot be loaded ({err})") from None
        scoring.finder_modality = spec["kwargs"]["modality"]
        if where.exists("metrics.json"):
            scoring.item_score = json.loads(where.read_bytes("metrics.json")).get("item_score") or "max"
    return scoring


def _item_stage(where: Location, config: dict) -> str:
    """The item stage of an item-first model directory: its own items/ (included), else the one
    its study referenced."""
    if where.exists(f"{ITEM_STAGE_DIR}/model.pt"):
        return where.uri_of(ITEM_STAGE_DIR)
    referenced = ((config.get("study") or {}).get("items") or {}).get("directory")
    if not referenced:
        raise ModelDirError(f"{where.uri}: an item-first model needs its item stage: "
                            f"{where.uri_of(ITEM_STAGE_DIR)} does not exist and config.json names none")
    return referenced


def export_model(directory: str | os.PathLike, model: nn.Module, spec: ModelSpec,
                 threshold: float | None = None, input_pitch_mm: float | None = None) -> str:
    """Write ``model`` as a model directory (model.pt, config.json, metrics.json) that
    load_trained_model reads: for models built in code (benchmarks, tests, notebooks)."""
    os.makedirs(directory, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(directory, "model.pt"))
    data = {} if input_pitch_mm is None else {"input_pitch_mm": input_pitch_mm}
    files = {"config.json": {"study": {}, "trial": asdict(spec), "data": data},
             "metrics.json": {"threshold": threshold}}
    for name, content in files.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2, sort_keys=True)
    return os.fspath(directory)
