"""A trained model's directory, the one place every file a run writes is named, written and read:
the weights (``model.pt``), ``config.json`` (the study, the model spec, the data's pitch),
``metrics.json`` (the threshold, item rule and item-score calibration val chose, the figures), what
resumes a checkpoint (optimiser and schedule states, progress) and its scores, the item stage
(``items/``, itself a model directory of the finder, with its found items and its own checkpoint),
pretraining's weights and the model card. Training, pretraining, study export, ``export-model``,
evaluation, scoring and the report page go through it; local paths and URIs alike."""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import asdict, fields
from typing import TYPE_CHECKING

import numpy as np

from models.catalog import PIPELINES
from models.spec import ModelSpec
from scans.storage import Location, locate

if TYPE_CHECKING:
    import torch

WEIGHTS_FILE = "model.pt"  # a state dict, loaded with weights_only=True
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
ITEM_STAGE_DIR = "items"  # RUN_DIR/items, or a model directory's items/: the item stage
CARD_FILE = "model_card.md"
CARD_JSON = "model_card.json"  # the card as data: what model_card.md shows
SCORING_FILES = (WEIGHTS_FILE, CONFIG_FILE, METRICS_FILE)  # what scoring reads, of a model and its stage
DEFAULT_THRESHOLD = 0.5  # a model whose metrics hold no finite threshold
# what resumes a checkpoint: the optimiser's and the schedule's states (torch, weights_only), and its
# progress ({"epoch": N} or {"step": N}), written last: a directory with it is a whole checkpoint
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULE_FILE = "schedule.pt"
PROGRESS_FILE = "state.json"
SCORES_FILE = "scores.npz"  # a checkpoint's val and test scores at every level (study.evaluation.scores_npz)
FOUND_FILE = "found.npz"  # an item stage's found items: each scan's instance map, key SPLIT/SCAN_ID
CLASSES_KEY = "classes"  # found.npz's CLASSES_KEY/SPLIT/SCAN_ID: the classes a stage named its items
STAGE_CHECKPOINT_DIR = "checkpoint"  # an item stage's checkpoint while it trains
PRETRAINED_FILE = "weights.pt"  # pretraining's dense weights: what a config's training.weights names
PRETRAIN_RECORD = "pretrain.json"  # pretraining's config, data, held-out fit and wall times


class ModelDirError(ValueError):
    """A model directory is missing a file or holds one that cannot be used."""


class ModelDirectory:
    """One model directory (a local path or a URI)."""

    def __init__(self, where: str | Location):
        self.where = locate(where) if isinstance(where, str) else where
        self._json: dict[str, dict] = {}  # what read_json read (a remote directory is read once)

    @property
    def uri(self) -> str:
        return self.where.uri

    def uri_of(self, name: str) -> str:
        return self.where.uri_of(name)

    def has(self, name: str) -> bool:
        return self.where.exists(name)

    def sub(self, name: str) -> ModelDirectory:
        """The directory ``name`` under this one, on the same storage (its credentials and options kept)."""
        return ModelDirectory(Location(self.where.fs, self.where.join(name), self.where.uri_of(name)))

    @property
    def item_stage_dir(self) -> ModelDirectory:
        """Its own item stage, ``items/`` (which may not exist: see ``item_stage``)."""
        return self.sub(ITEM_STAGE_DIR)

    @property
    def stage_checkpoint(self) -> ModelDirectory:
        """An item stage's checkpoint while it trains, ``checkpoint/``."""
        return self.sub(STAGE_CHECKPOINT_DIR)

    def item_first(self) -> bool:
        """Whether the model finds items first (its pipeline, from config.json)."""
        return PIPELINES.declared(self.spec().pipeline).item_first

    def scoring_files(self) -> list[str]:
        """What scoring reads of this model, the one list (copy_to copies it, ``export-model``
        demands it, the model card lists it): weights, config and metrics, and an item-first
        model's item stage's (``items/``)."""
        stage = [f"{ITEM_STAGE_DIR}/{name}" for name in SCORING_FILES] if self.item_first() else []
        return [*SCORING_FILES, *stage]

    # reading

    def read(self, name: str) -> bytes:
        if not self.where.exists(name):
            raise ModelDirError(f"{self.where.uri_of(name)} does not exist: a model directory (RUN_DIR/best, "
                                f"a trial checkpoint or an exported model) holds {', '.join(SCORING_FILES)}")
        return self.where.read_bytes(name)

    def read_json(self, name: str) -> dict:
        if name not in self._json:
            try:
                content = json.loads(self.read(name))
            except json.JSONDecodeError as err:
                raise ModelDirError(f"{self.where.uri_of(name)}: not valid JSON ({err})") from None
            if not isinstance(content, dict):
                raise ModelDirError(f"{self.where.uri_of(name)}: a JSON object expected")
            self._json[name] = content
        return self._json[name]

    def config(self) -> dict:
        return self.read_json(CONFIG_FILE)

    def metrics(self) -> dict:
        """``metrics.json``; {} for a directory without one (a model built in code may have none)."""
        return self.read_json(METRICS_FILE) if self.has(METRICS_FILE) else {}

    def spec(self) -> ModelSpec:
        """The model spec (``config.json``'s ``trial``), without the weights it started from: the
        state dict holds every weight."""
        config = self.config()
        try:
            known = {f.name for f in fields(ModelSpec)}
            spec = ModelSpec(**{k: v for k, v in config["trial"].items() if k in known})
        except (KeyError, TypeError, AttributeError) as err:
            raise ModelDirError(f"{self.uri_of(CONFIG_FILE)}: 'trial' is missing or incomplete ({err})"
                                ) from None
        return ModelSpec(**{**asdict(spec), "weights": None})

    def weights(self) -> bytes:
        return self.read(WEIGHTS_FILE)

    def sha256(self) -> str:
        return hashlib.sha256(self.weights()).hexdigest()

    def state_dict(self, data: bytes | None = None) -> dict[str, torch.Tensor]:
        """The weights (or ``data``, bytes read from this directory) on the CPU, ``weights_only``."""
        import torch  # here: reading a directory's JSON (export-model's --help, the report page) needs none

        try:
            return torch.load(io.BytesIO(self.weights() if data is None else data), map_location="cpu",
                              weights_only=True)
        except Exception as err:  # torch raises many kinds for a bad file
            raise ModelDirError(f"{self.uri_of(WEIGHTS_FILE)}: not a state dict ({type(err).__name__}: "
                                f"{err})") from None

    def threshold(self) -> float | None:
        """The operating threshold val chose, when the metrics hold a finite one."""
        value = self.metrics().get("threshold")
        return float(value) if isinstance(value, int | float) and math.isfinite(value) else None

    def calibration(self):
        """The item-score calibration val fitted (metrics.json ``calibration``), None when the
        scores are raw; ModelDirError naming the file when it cannot be read."""
        from models.calibration import ScoreCalibration

        content = self.metrics().get("calibration")
        if content is None:
            return None
        try:
            return ScoreCalibration.from_dict(content)
        except ValueError as err:
            raise ModelDirError(f"{self.uri_of(METRICS_FILE)}: {err}") from None

    def item_score(self) -> str:
        """The item-score rule val chose (item-first sub-component models); ``max`` when none."""
        return self.metrics().get("item_score") or "max"

    def input_pitch_mm(self) -> float | None:
        """The pixel pitch the model was trained at, when known."""
        pitch = (self.config().get("data") or {}).get("input_pitch_mm")
        return float(pitch) if isinstance(pitch, int | float) and pitch > 0 else None

    def train_models(self) -> dict[str, list[int]] | None:
        """The item models (per class, their ids) the model's training split held, when its archive
        recorded them (a split by model); None when unknown."""
        train = (self.config().get("data") or {}).get("train_models")
        return train if isinstance(train, dict) else None

    def item_stage(self) -> str:
        """The item stage of an item-first model: its own ``items/``, else the one its study named."""
        if self.has(f"{ITEM_STAGE_DIR}/{WEIGHTS_FILE}"):
            return self.uri_of(ITEM_STAGE_DIR)
        referenced = ((self.config().get("study") or {}).get("items") or {}).get("directory")
        if not referenced:
            raise ModelDirError(f"{self.uri}: an item-first model needs its item stage: "
                                f"{self.uri_of(ITEM_STAGE_DIR)} does not exist and config.json names none")
        return referenced

    # writing

    def write_weights(self, state: dict[str, torch.Tensor], half: bool = False) -> None:
        """The state dict (its floating tensors as float16 with ``half``: loaded back as float32)."""
        if half:
            state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        self.write_state(WEIGHTS_FILE, state)

    def write_state(self, name: str, state: dict) -> None:
        """A state dict as ``name`` (weights, an optimiser's or a schedule's state): the one
        ``torch.save`` of the project."""
        import torch

        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.write_bytes(name, buffer.getvalue())

    def read_state(self, name: str) -> dict:
        """A training state written by write_state, on the CPU, ``weights_only``."""
        import torch

        return torch.load(io.BytesIO(self.read(name)), map_location="cpu", weights_only=True)

    def write_bytes(self, name: str, data: bytes) -> None:
        self._json.pop(name, None)
        self.where.makedirs()
        self.where.write_bytes(name, data)

    def write_json(self, name: str, content: dict) -> None:
        self.write_bytes(name, json.dumps(content, indent=2, sort_keys=True, default=float).encode())

    # what resumes training, and what a checkpoint or item stage keeps beside its weights

    def write_resume(self, progress: dict, optimizer: dict, schedule: dict | None = None) -> None:
        """The optimiser's state, the schedule's (when the recipe has one) and ``progress``
        (finished epochs or steps), written last: a directory with it is a whole checkpoint."""
        self.write_state(OPTIMIZER_FILE, optimizer)
        if schedule is not None:
            self.write_state(SCHEDULE_FILE, schedule)
        self.write_json(PROGRESS_FILE, progress)

    def progress(self) -> dict | None:
        """A whole checkpoint's progress (write_resume), None when the directory holds none."""
        return self.read_json(PROGRESS_FILE) if self.has(PROGRESS_FILE) else None

    def optimizer_state(self) -> dict:
        return self.read_state(OPTIMIZER_FILE)

    def schedule_state(self) -> dict | None:
        """The schedule's state, None when the checkpoint kept none (a constant schedule)."""
        return self.read_state(SCHEDULE_FILE) if self.has(SCHEDULE_FILE) else None

    def write_scores(self, data: bytes) -> None:
        """A checkpoint's scores (study.evaluation.scores_npz's bytes)."""
        self.write_bytes(SCORES_FILE, data)

    def scores_data(self) -> bytes | None:
        """The checkpoint's scores as written (study.evaluation.read_scores_npz reads them), None
        when it kept none."""
        return self.read(SCORES_FILE) if self.has(SCORES_FILE) else None

    def write_found(self, maps: dict[str, np.ndarray]) -> None:
        """An item stage's found items: each scan's instance map, keyed ``SPLIT/SCAN_ID``, and where
        its finder names classes each found item's class, keyed ``CLASSES_KEY/SPLIT/SCAN_ID``."""
        packed = io.BytesIO()
        np.savez_compressed(packed, **maps)
        self.write_bytes(FOUND_FILE, packed.getvalue())

    def found(self, split: str) -> dict[str, np.ndarray]:
        """The instance maps an item stage found in the scans of ``split``, by scan id."""
        return self._found_under(f"{split}/")

    def found_classes(self, split: str) -> dict[str, np.ndarray]:
        """The classes an item stage named its found items of ``split``'s scans, by scan id (each
        an array in item id order); empty where its finder names none."""
        return self._found_under(f"{CLASSES_KEY}/{split}/")

    def _found_under(self, prefix: str) -> dict[str, np.ndarray]:
        with np.load(io.BytesIO(self.read(FOUND_FILE)), allow_pickle=False) as npz:
            return {key.removeprefix(prefix): npz[key] for key in npz.files
                    if key.startswith(prefix) and "/" not in key.removeprefix(prefix)}

    def found_sha256(self) -> str:
        return hashlib.sha256(self.read(FOUND_FILE)).hexdigest()

    def write_pretrained(self, state: dict[str, torch.Tensor], record: dict) -> None:
        """Pretraining's dense weights (``weights.pt``, for a config's training.weights) and its record."""
        self.write_state(PRETRAINED_FILE, state)
        self.write_json(PRETRAIN_RECORD, record)

    def write_model(self, state: dict[str, torch.Tensor], spec: ModelSpec, study: dict | None = None,
                    data: dict | None = None, metrics: dict | None = None, training_run: dict | None = None
                    ) -> None:
        """Weights, config.json (the study, the spec, the data's pitch and, when given, the recipe
        training ran: ``training_run``) and metrics.json."""
        self.write_weights(state)
        config = {"study": study or {}, "trial": asdict(spec), "data": data or {}}
        if training_run is not None:
            config["training_run"] = training_run
        self.write_json(CONFIG_FILE, config)
        self.write_json(METRICS_FILE, metrics or {})

    def copy_to(self, target: ModelDirectory, half: bool = False, stage: ModelDirectory | None = None
                ) -> list[str]:
        """Copy what scoring reads (scoring_files) to ``target``, the weights as float16 with
        ``half``; an item-first model's item stage from ``stage`` when given (a study's ``items/``,
        beside trial checkpoints that carry none), else its own. The names copied."""
        names = self.scoring_files()
        stage = stage or self.item_stage_dir
        for name in names:
            base = name.removeprefix(f"{ITEM_STAGE_DIR}/")
            source, into = (self, target) if base == name else (stage, target.item_stage_dir)
            if base == WEIGHTS_FILE and half:
                into.write_weights(source.state_dict(), half=True)
            else:
                into.write_bytes(base, source.read(base))
        return names
