"""A trained model ready to score: built from a study checkpoint directory (RUN_DIR/best or a trial's)."""

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

from models.inputs import autocast_for
from models.items.scan import score_scan
from models.items.stage import ITEM_STAGE_DIR, load_finder
from scans.modalities import modality_channels
from scans.storage import Location, locate
from study.pipelines import PIPELINES, Trial

DEFAULT_THRESHOLD = 0.5
MODEL_FILES = ("model.pt", "config.json")


class ModelDirError(ValueError):
    """A model directory is missing a file or holds one that cannot be used."""


@dataclass
class ScanPrediction:
    """One scan's n segments at the model's input size S×S (label map numbered 0..n−1), their
    scores, which are scored (SSN: every superpixel; Mask R-CNN: its items, not the background),
    areas (px), boxes (x0, y0, x1, y1; exclusive ends) and centroids (cx, cy)."""

    labels: np.ndarray  # (S, S) int32
    scores: np.ndarray  # (n,) float32, 0 where not scored
    scored: np.ndarray  # (n,) bool
    area: np.ndarray  # (n,) int64
    boxes: np.ndarray  # (n, 4) float32
    centroid: np.ndarray  # (n, 2) float32
    # item-first models: a segment is anomalous when its item is (item score ≥ threshold) and it is
    # one of the item's strongest; the scan's score is its highest item score
    flagged: np.ndarray | None = None  # (n,) bool
    scan_score: float | None = None
    item_boxes: np.ndarray | None = None  # (m, 4) x0, y0, x1, y1 of each found item, scan pixels


def segment_boxes(labels: np.ndarray, n: int) -> np.ndarray:
    """(n, 4) int64 boxes (x0, y0, x1, y1; exclusive ends, zeros for ids without pixels) of the
    ids 0..n−1 of an (H, W) label map."""
    ys, xs = np.indices(labels.shape)
    flat = labels.ravel()
    boxes = np.zeros((n, 4), np.int64)
    for column, (values, reduce) in enumerate(((xs, np.minimum), (ys, np.minimum), (xs + 1, np.maximum),
                                              (ys + 1, np.maximum))):
        start = np.full(n, max(labels.shape) + 1 if reduce is np.minimum else 0, np.int64)
        reduce.at(start, flat, values.ravel())
        boxes[:, column] = start
    boxes[np.bincount(flat, minlength=n) == 0] = 0
    return boxes


def _prediction_of(labels: np.ndarray, scores: np.ndarray, scored: np.ndarray,
                   flagged: np.ndarray | None = None, scan_score: float | None = None,
                   item_boxes: np.ndarray | None = None) -> ScanPrediction:
    """A ScanPrediction from (H, W) labels 0..n−1 (ids without pixels allowed) and per-id values."""
    n = len(scores)
    width = labels.shape[1]
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n)
    ys, xs = np.divmod(np.arange(flat.size), width)
    safe = np.maximum(area, 1)
    centroid = np.stack([np.bincount(flat, xs + 0.5, n) / safe, np.bincount(flat, ys + 0.5, n) / safe], 1)
    return ScanPrediction(labels.astype(np.int32), scores.astype(np.float32), scored.astype(bool), area,
                          segment_boxes(labels, n).astype(np.float32), centroid.astype(np.float32),
                          flagged, scan_score, item_boxes)


@dataclass
class ScoringModel:
    """A model in eval mode on its device, with the trial it was trained as and its threshold."""

    model: nn.Module
    trial: Trial
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
        return self.trial.modality

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
        return self.trial.pipeline

    @property
    def image_size(self) -> int | None:
        """The square size scans are resized to; None for item-first models (native pitch)."""
        return None if self.item_first else self.trial.image_size

    @torch.no_grad()
    def predict(self, images: np.ndarray | list[np.ndarray]) -> list[ScanPrediction]:
        """Segments and scores of a (B, C, S, S) float32 batch at the model's image size, or for
        item-first models of each C×H×W scan at its own size."""
        if self.item_first:
            return [self._predict_items(np.asarray(image, np.float32)) for image in images]
        batch = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        with autocast_for(self.device, self.amp):
            pred = PIPELINES[self.pipeline].predict(self.model, batch)
        segments = pred.segments
        labels = segments.local_labels().cpu().numpy().astype(np.int32)
        columns = (pred.scores.float(), pred.scored, segments.area, segments.boxes.float(),
                   segments.centroid.float())
        per_image = [[t.numpy() for t in segments.per_image(values.cpu())] for values in columns]
        return [ScanPrediction(lab, scores.astype(np.float32), scored.astype(bool), area, boxes, centroid)
                for lab, scores, scored, area, boxes, centroid in zip(labels, *per_image, strict=True)]


    def _predict_items(self, image: np.ndarray) -> ScanPrediction:
        channels = modality_channels(self.modality)
        x = torch.from_numpy(np.ascontiguousarray(image[:channels]))
        separate = image.shape[0] > channels
        finder_x = torch.from_numpy(np.ascontiguousarray(image[channels:])) if separate else x
        with autocast_for(self.device, self.amp):
            result = score_scan(self.finder, self.model, x, finder_x, self.item_score)
        n = len(result.segment_scores)
        scores = np.concatenate([[0.0], result.segment_scores])  # segment 0: what no item covers
        item_flag = result.item_scores >= self.threshold
        item_max = np.zeros(len(result.item_scores), np.float32)
        np.maximum.at(item_max, result.segment_item, result.segment_scores)
        strong = result.segment_scores >= np.minimum(self.threshold, item_max[result.segment_item])
        flagged = np.concatenate([[False], item_flag[result.segment_item] & strong])
        scan_score = float(result.item_scores.max()) if len(result.item_scores) else 0.0
        return _prediction_of(result.labels, scores, np.arange(n + 1) > 0, flagged, scan_score,
                              result.item_boxes)


def _read(where: Location, name: str) -> bytes:
    if not where.exists(name):
        raise ModelDirError(f"{where.uri_of(name)} does not exist: a model directory (RUN_DIR/best or a "
                            f"trial checkpoint) holds {', '.join(MODEL_FILES)}")
    return where.read_bytes(name)


def _trial(config: dict, uri: str) -> Trial:
    try:
        known = {f.name for f in fields(Trial)}
        return Trial(**{k: v for k, v in config["trial"].items() if k in known})
    except (KeyError, TypeError) as err:
        raise ModelDirError(f"{uri}: 'trial' is missing or incomplete ({err})") from None


def _card_threshold(where: Location) -> float | None:
    """The operating threshold the study chose (metrics.json), when there is a finite one."""
    if not where.exists("metrics.json"):
        return None
    value = json.loads(where.read_bytes("metrics.json")).get("threshold")
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def load_scoring_model(uri: str, device: torch.device | str | None = None,
                       threshold: float | None = None) -> ScoringModel:
    """The model in directory ``uri`` (local path or URI), weights loaded with ``weights_only=True``.
    The threshold is ``threshold`` when given, else the study's chosen one, else 0.5."""
    where = locate(uri)
    config_uri = where.uri_of("config.json")
    try:
        config = json.loads(_read(where, "config.json"))
    except json.JSONDecodeError as err:
        raise ModelDirError(f"{config_uri}: not valid JSON ({err})") from None
    trial = replace(_trial(config, config_uri), weights=None)  # the state dict holds every weight
    weights = _read(where, "model.pt")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = PIPELINES[trial.pipeline].build(trial)
    try:
        state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as err:  # torch raises many kinds for a bad or mismatched file
        raise ModelDirError(f"{where.uri_of('model.pt')}: cannot load the weights of a {trial.pipeline} "
                            f"{trial.backbone} {trial.modality} model ({type(err).__name__}: {err})"
                            ) from None
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    chosen = threshold if threshold is not None else _card_threshold(where)
    pitch = (config.get("data") or {}).get("input_pitch_mm")
    scoring = ScoringModel(model.to(device).eval(), trial, DEFAULT_THRESHOLD if chosen is None else chosen,
                           hashlib.sha256(weights).hexdigest(), where.uri, device,
                           input_pitch_mm=float(pitch) if isinstance(pitch, int | float) and pitch > 0
                           else None)
    if PIPELINES[trial.pipeline].item_first:
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


def export_model(directory: str | os.PathLike, model: nn.Module, trial: Trial,
                 threshold: float | None = None, input_pitch_mm: float | None = None) -> str:
    """Write ``model`` as a model directory (model.pt, config.json, metrics.json) that
    load_scoring_model reads: for models built in code (benchmarks, tests, notebooks)."""
    os.makedirs(directory, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(directory, "model.pt"))
    data = {} if input_pitch_mm is None else {"input_pitch_mm": input_pitch_mm}
    files = {"config.json": {"study": {}, "trial": asdict(trial), "data": data},
             "metrics.json": {"threshold": threshold}}
    for name, content in files.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2, sort_keys=True)
    return os.fspath(directory)
