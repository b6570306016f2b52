"""A trained model's directory, the one place its files are named, written and read: the weights
(``model.pt``), ``config.json`` (the study, the model spec, the data's pitch), ``metrics.json``
(the threshold, item rule and item-score calibration val chose, the figures), the item stage
(``items/``, itself a model directory of the finder) and the model card. Training, study export,
``export-model``, evaluation, scoring and the report page go through it; local paths and URIs alike."""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import asdict, fields
from typing import TYPE_CHECKING

from models.spec import ModelSpec
from scans.storage import Location, locate

if TYPE_CHECKING:
    import torch

WEIGHTS_FILE = "model.pt"  # a state dict, loaded with weights_only=True
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
ITEM_STAGE_DIR = "items"  # RUN_DIR/items, or a model directory's items/: the item stage
CARD_FILE = "model_card.md"
SCORING_FILES = (WEIGHTS_FILE, CONFIG_FILE, METRICS_FILE)  # what scoring reads, of a model and its stage
DEFAULT_THRESHOLD = 0.5  # a model whose metrics hold no finite threshold


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

    @property
    def item_stage_dir(self) -> ModelDirectory:
        """Its own item stage, ``items/`` (which may not exist: see ``item_stage``)."""
        return ModelDirectory(self.where.uri_of(ITEM_STAGE_DIR))

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
        import torch

        if half:
            state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.where.makedirs()
        self.where.write_bytes(WEIGHTS_FILE, buffer.getvalue())

    def write_state(self, name: str, state: dict) -> None:
        """A training state beside the weights (an optimiser's, a schedule's) as ``name``."""
        import torch

        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.where.makedirs()
        self.where.write_bytes(name, buffer.getvalue())

    def read_state(self, name: str) -> dict:
        """A training state written by write_state, on the CPU, ``weights_only``."""
        import torch

        return torch.load(io.BytesIO(self.read(name)), map_location="cpu", weights_only=True)

    def write_json(self, name: str, content: dict) -> None:
        self._json.pop(name, None)
        self.where.makedirs()
        self.where.write_bytes(name, json.dumps(content, indent=2, sort_keys=True, default=float).encode())

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

    def copy_to(self, target: ModelDirectory, half: bool = False) -> list[str]:
        """Copy what scoring reads (weights, config, metrics, and the item stage's when it has its
        own) to ``target``, the weights as float16 with ``half``; the names copied."""
        names = [*SCORING_FILES, *(f"{ITEM_STAGE_DIR}/{n}" for n in SCORING_FILES
                                   if self.has(f"{ITEM_STAGE_DIR}/{WEIGHTS_FILE}"))]
        for name in names:
            source, into = (self, target) if "/" not in name else (self.item_stage_dir, target.item_stage_dir)
            base = name.rsplit("/", 1)[-1]
            if base == WEIGHTS_FILE and half:
                into.write_weights(source.state_dict(), half=True)
            else:
                into._json.pop(base, None)
                into.where.makedirs()
                into.where.write_bytes(base, source.read(base))
        return names
