"""A trained model ready to score scans: built from a model directory (RUN_DIR/best, a trial's, or
an exported one)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import nn

from models.calibration import ScoreCalibration
from models.catalog import PIPELINES
from models.inputs import numerics_of
from models.items.stage import load_finder
from models.model_dir import DEFAULT_THRESHOLD, WEIGHTS_FILE, ModelDirectory, ModelDirError
from models.predictions import ScanPrediction
from models.spec import ModelSpec

RUNTIMES = ("torch", "onnx")  # what runs a model's networks (models.onnx_networks for onnx)


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
    chosen_numerics: str | None = None  # the precision val's threshold was chosen in, when recorded
    calibration: ScoreCalibration | None = None  # item-first models: raw item scores → probabilities
    train_models: dict[str, list[int]] | None = None  # the item models its training split held, if known

    def calibrated(self, item_scores: np.ndarray) -> np.ndarray:
        """Item scores as the model reports them: through its calibration, raw when it has none."""
        return item_scores if self.calibration is None else self.calibration.apply(item_scores)

    @cached_property
    def raw_threshold(self) -> float:
        """The threshold in raw classifier probabilities (what superpixel scores are compared with)."""
        return self.threshold if self.calibration is None else self.calibration.invert(self.threshold)

    @property
    def numerics(self) -> str:
        """The precision this model's scores are computed in here (models.inputs.numerics_of)."""
        return numerics_of(self.device, self.amp)

    def numerics_warning(self) -> str | None:
        """A warning when this device scores in another precision than val chose the threshold in."""
        if self.chosen_numerics is None or self.chosen_numerics == self.numerics:
            return None
        return (f"{self.uri}: its threshold was chosen on val with scores in {self.chosen_numerics}; "
                f"here ({self.device.type}) they are computed in {self.numerics}, so a score near the "
                "threshold may fall on the other side of it")

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


def load_trained_model(uri: str, device: torch.device | str | None = None,
                       threshold: float | None = None, runtime: str = "torch") -> TrainedModel:
    """The model in directory ``uri`` (local path or URI), weights loaded with ``weights_only=True``.
    The threshold is ``threshold`` when given, else the study's chosen one, else 0.5. With
    ``runtime`` onnx its networks run in ONNX Runtime from the directory's onnx/ files
    (models.onnx_networks), everything around them as in PyTorch."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    directory = ModelDirectory(uri)
    spec = directory.spec()
    weights = directory.weights()
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = PIPELINES[spec.pipeline].build(spec)
    try:
        model.load_state_dict(directory.state_dict(weights))
    except Exception as err:  # torch raises many kinds for a bad or mismatched file
        raise ModelDirError(f"{directory.uri_of(WEIGHTS_FILE)}: cannot load the weights of a {spec.pipeline} "
                            f"{spec.backbone} {spec.modality} model ({type(err).__name__}: {err})"
                            ) from None
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    chosen = threshold if threshold is not None else directory.threshold()
    config = directory.config()
    amp = bool((config.get("study") or {}).get("training", {}).get("amp", True))
    scoring = TrainedModel(model.to(device).eval(), spec, DEFAULT_THRESHOLD if chosen is None else chosen,
                           hashlib.sha256(weights).hexdigest(), directory.uri, device, amp=amp,
                           input_pitch_mm=directory.input_pitch_mm(),
                           chosen_numerics=(config.get("training_run") or {}).get("numerics"),
                           train_models=directory.train_models())
    if PIPELINES[spec.pipeline].item_first:
        stage = directory.item_stage()
        try:
            scoring.finder, finder_spec = load_finder(stage, device)
        except (FileNotFoundError, ValueError, RuntimeError) as err:
            raise ModelDirError(f"{directory.uri}: its item stage {stage} cannot be loaded ({err})") from None
        scoring.finder_modality = finder_spec["kwargs"]["modality"]
        named = tuple(finder_spec["kwargs"].get("classes", ()))
        if spec.class_context and named != spec.class_context:
            raise ModelDirError(f"{directory.uri}: the model reads each item's class among "
                                f"{', '.join(spec.class_context)} (class_context), and its item stage "
                                f"{stage} names {', '.join(named) if named else 'none'}")
        scoring.item_score = directory.item_score()
        scoring.calibration = directory.calibration()
    if runtime == "onnx":
        from models.onnx_networks import NotExportableError, use_onnx

        try:
            use_onnx(directory, scoring.model, scoring.finder)
        except NotExportableError as err:
            raise ModelDirError(f"{directory.uri}: {err}") from None
    return scoring


def export_model(directory: str | os.PathLike, model: nn.Module, spec: ModelSpec,
                 threshold: float | None = None, input_pitch_mm: float | None = None) -> str:
    """Write ``model`` as a model directory (model.pt, config.json, metrics.json) that
    load_trained_model reads: for models built in code (benchmarks, tests, notebooks)."""
    data = {} if input_pitch_mm is None else {"input_pitch_mm": input_pitch_mm}
    ModelDirectory(os.fspath(directory)).write_model(model.state_dict(), spec, data=data,
                                                     metrics={"threshold": threshold})
    return os.fspath(directory)
