"""Study configuration: one YAML schema validated with pydantic; errors name the field."""

from __future__ import annotations

import json
import os
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.catalog import (
    BACKBONES,
    CLASSIFY_MODES,
    DENSE_ENCODERS,
    ITEM_FINDERS,
    ITEM_INPUTS,
    ITEM_SCORES,
    OPTIMIZERS,
    PIPELINES,
    SSN_FEATURES,
)
from models.knobs import default_optimizer, modes_for
from models.metrics import LEVELS, METRICS
from models.spec import ModelSpec
from scans.modalities import parse_modality
from scans.schema import STRICT, reason
from study.data_config import DataConfig


def absolute_path(path: str) -> str:
    """A local path made absolute (a URI stays as it is)."""
    return path if "://" in path else os.path.abspath(os.path.expanduser(path))


class ConfigError(ValueError):
    """A study configuration is invalid; the message names the file and the field."""


def known(value: str, registry, kind: str) -> str:
    """``value`` when ``registry`` has it; else an error naming the kind and the valid names."""
    if value not in registry:
        raise ValueError(f"unknown {kind} {value!r}; valid: {', '.join(registry)}")
    return value


class Strict(BaseModel):
    model_config = STRICT


class _Range(Strict):
    """``low`` to ``high``; subclasses give the bounds their types."""

    @model_validator(mode="after")
    def _ordered(self) -> _Range:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self


class IntRange(_Range):
    """Integers from ``low`` to ``high`` inclusive."""

    low: int = Field(ge=1)
    high: int = Field(ge=1)


class LogRange(_Range):
    """Positive floats from ``low`` to ``high``, sampled log-uniformly."""

    low: float = Field(gt=0)
    high: float = Field(gt=0)


# space fields whose values must be names in a registry: field → (registry, what it names)
NAMED_FIELDS = {"pipelines": (PIPELINES, "pipeline"), "backbones": (BACKBONES, "backbone"),
                "ssn_features": (SSN_FEATURES, "SSN feature extractor"),
                "modes": (CLASSIFY_MODES, "classification mode"), "optimizers": (OPTIMIZERS, "optimizer")}

Names = Annotated[list[str], Field(min_length=1)]


class SpaceConfig(Strict):
    """The search space: lists are choices (a grid enumerates them), ranges are sampled. A trial
    chooses only the knobs its pipeline reads (models.knobs); a knob left out (None) takes the
    model spec's default where it acts (K 100, λ 1e-4, pixel features, pool, τ 0.5) and the
    pipeline's own optimizer (SGD for whole scans, the paper's; AdamW for the item recipe)."""

    pipelines: Names = ["ssn"]
    backbones: Names = ["resnet18"]
    modalities: Names = ["pseudo"]
    k: list[int] | IntRange | None = None
    lam: list[float] | LogRange | None = None
    ssn_features: Names | None = None
    modes: Names | None = None
    # τ: a superpixel is a positive example above this anomaly share, ignored between 0 and it
    anomaly_fractions: list[float] | None = None
    optimizers: Names | None = None
    lr: list[float] | LogRange = [2e-4]
    batch_size: list[int] = [64]
    epochs: int = Field(default=10, ge=1)

    @field_validator(*NAMED_FIELDS)
    @classmethod
    def _registered(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        registry, kind = NAMED_FIELDS[info.field_name]
        return None if v is None else [known(value, registry, kind) for value in v]

    @field_validator("modalities")
    @classmethod
    def _modalities(cls, v: list[str]) -> list[str]:
        for spec in v:
            parse_modality(spec)
        return v

    @field_validator("anomaly_fractions")
    @classmethod
    def _fractions(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (not v or any(not 0 <= x < 1 for x in v)):
            raise ValueError("must list at least one value, each in [0, 1)")
        return v

    @field_validator("k", "lam", "lr", "batch_size")
    @classmethod
    def _not_empty(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("must list at least one value")
        if isinstance(v, list) and any(x <= 0 for x in v):
            raise ValueError("values must be positive")
        return v


class ASHAConfig(Strict):
    max_t: int | None = Field(default=None, ge=1)  # default: space.epochs
    grace_period: int = Field(default=1, ge=1)
    reduction_factor: float = Field(default=3, gt=1)


class SearchConfig(Strict):
    algorithm: Literal["grid", "optuna", "random"] = "grid"
    seed: int = 0
    num_samples: int = Field(default=1, ge=1)  # grid: repeats of the whole grid
    max_concurrent: int | None = Field(default=None, ge=1)
    scheduler: Literal["asha", "none"] = "none"
    asha: ASHAConfig = ASHAConfig()


class ObjectiveConfig(Strict):
    """What the study optimises, always on the val split: ``LEVEL_METRIC`` (e.g. object_auroc).
    The operating threshold is the one keeping val FP% at the metric's level at or below
    ``fp_target``; threshold metrics on val and test are taken at it."""

    metric: str = "object_auroc"
    mode: Literal["max", "min"] = "max"
    fp_target: float = Field(default=5.0, ge=0, le=100)

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        return known(v, [f"{level}_{m}" for level in LEVELS for m in METRICS], "metric")


class ResourcesConfig(Strict):
    cpu: float = Field(default=1, gt=0)
    gpu: float = Field(default=0, ge=0)  # fractional: trials share a GPU


class ItemStageConfig(Strict):
    """The item stage: one finder (ITEM_FINDERS) trained on the train split before any trial, in its
    own ``modality``; ``scale`` shrinks scans for the light finder; AdamW ``steps`` of ``batch``
    prepared scans at ``lr`` (one-cycle) with ``weight_decay``, random 90° turns and flips."""

    finder: str = "unet"
    modality: str = "hlz_log"
    directory: str | None = None  # a trained item stage to use; default: the study trains RUN_DIR/items
    scale: int = Field(default=2, ge=1, le=16)  # the light finder sees scans shrunk this much
    encoder: str = "resnet18"  # the light finder's U-Net encoder (DENSE_ENCODERS)
    min_item_px: int = Field(default=400, ge=1)  # found items smaller than this (scan pixels) dropped
    # the light finder splits a region of item pixels at every centre peak this high against its
    # region's highest (lower: touching items split more readily)
    peak_relative: float = Field(default=0.5, gt=0, le=1)
    # the light finder's item pixels: item probability above this (lower: faint casings join their item)
    item_threshold: float = Field(default=0.5, gt=0, lt=1)
    # how the light finder's centre heatmap learns: squared error, or CenterNet's focal loss
    center_loss: Literal["squared", "focal"] = "squared"
    # where an item's centre target lies: its pixels' centroid, or the deepest point of its body
    center: Literal["centroid", "body"] = "centroid"
    # whether the finder names each found item's class (those of the train split's items): the
    # light finder does by default (a class head); Mask R-CNN here finds items of one class
    classes: bool | None = None
    steps: int = Field(default=400, ge=1)
    batch: int = Field(default=8, ge=1)
    lr: float = Field(default=2e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    # a local file the finder starts from: Mask R-CNN's own or torchvision's COCO checkpoint (class
    # predictors re-initialised), the unet finder's own or its encoder's torchvision classifier
    weights: str | None = None
    # what the stage's Ray task asks for: a study trains the stage on a worker, never the driver
    resources: ResourcesConfig = ResourcesConfig()
    image_size: int = Field(default=512, ge=32, le=2048)  # Mask R-CNN's input: scans resized to it
    score_threshold: float = Field(default=0.5, ge=0, le=1)  # Mask R-CNN's detections kept as items

    @field_validator("weights")
    @classmethod
    def _absolute_weights(cls, v: str | None) -> str | None:
        return None if v is None else absolute_path(v)

    @field_validator("finder")
    @classmethod
    def _finder(cls, v: str) -> str:
        return known(v, ITEM_FINDERS, "item finder")

    @field_validator("modality")
    @classmethod
    def _modality(cls, v: str) -> str:
        parse_modality(v)
        return v

    @field_validator("encoder")
    @classmethod
    def _encoder(cls, v: str) -> str:
        return known(v, DENSE_ENCODERS, "finder encoder")

    @property
    def names_classes(self) -> bool:
        """Whether the finder names found items' classes: ``classes``, by default where it can."""
        return self.finder == "unet" if self.classes is None else self.classes

    @model_validator(mode="after")
    def _unet_knobs(self) -> ItemStageConfig:
        """The light finder's knobs act on it alone: refused for another finder, never ignored."""
        knobs = ("scale", "encoder", "min_item_px", "peak_relative", "item_threshold", "center_loss",
                 "center")
        unet_only = [name for name in knobs
                     if getattr(self, name) != type(self).model_fields[name].default]  # a dump keeps defaults
        if self.classes and self.finder != "unet":
            unet_only.append("classes")
        if self.finder != "unet" and unet_only:
            raise ValueError(f"{', '.join(unet_only)} act only on the unet finder, not {self.finder!r}")
        maskrcnn_only = [name for name in ("image_size", "score_threshold")
                         if getattr(self, name) != type(self).model_fields[name].default]
        if self.finder != "maskrcnn" and maskrcnn_only:
            raise ValueError(f"{', '.join(maskrcnn_only)} act only on the maskrcnn finder, not "
                             f"{self.finder!r}")
        return self


class AugmentConfig(Strict):
    """What X-ray allows (study.items.tiles): 90° rotations and flips (a scan has no up), a gain jitter of
    the attenuation (x → air + (x − air)·g, g within ±``gain``, on the channels that scale with
    thickness), Gaussian noise of ``noise``, and the item mask grown or shrunk by up to ``mask_px``
    pixels (found masks are never exact)."""

    rotate: bool = True
    gain: float = Field(default=0.05, ge=0, lt=1)
    noise: float = Field(default=0.01, ge=0)
    mask_px: int = Field(default=2, ge=0)


class RecipeConfig(Strict):
    """How item pipelines train (study.items.train.Recipe): ``steps`` of the space's batch_size
    tiles of ``tile``² (the object-level pipeline: whole items at training.crop_size²), a
    ``positive`` share on anomalies and a ``hard`` share on mined hard negatives (``mine_items``
    benign items scored every ``mine_every`` steps, each one's highest place kept), the rest on
    random places of items drawn alike or by area (``negatives``), AdamW at the
    space's lr on a one-cycle schedule; val scored every ``eval_every`` steps (a study's epoch),
    where the item score rule is chosen among ``item_scores``. What the model sees of an item is
    ``item_input`` (models.items.inputs: masked, context, frame); ``small_anomalies`` keeps small
    anomalies as positives (models.subcomponent.items); the last ``head_holdout`` share of train's
    scans is held out of training for the learned item head; ``test_views`` averages the pool
    mode's dense features over turned and mirrored copies of each item when it is scored (1, 4
    or 8: at the end of training, where val chooses again and test is scored, and in scoring;
    epochs are ranked on one view); ``overview`` gives the pool mode the whole item in view (a
    small network over the item shrunk to 64² modulates every pixel's features: tiles train with
    their item's overview); ``class_context`` gives it each item's class as the item stage names
    it (a learned scale and shift of every pixel's features per class: train's items carry their
    true class, val's, test's and scored scans' found items the finder's name). Training cuts
    train's items by their
    true masks, the item stage's found masks (its resolution and errors, as scoring sees items)
    or both (``train_masks``)."""

    steps: int = Field(default=3000, ge=1)
    tile: int = Field(default=96, ge=16, le=1024)
    positive: float = Field(default=0.5, ge=0, le=1)
    hard: float = Field(default=0.25, ge=0, le=1)
    mine_every: int = Field(default=100, ge=1)
    mine_items: int = Field(default=16, ge=1)
    negatives: Literal["uniform", "area"] = "uniform"
    weight_decay: float = Field(default=1e-4, ge=0)
    warmup: float = Field(default=0.05, ge=0, lt=1)
    schedule: Literal["onecycle", "constant"] = "onecycle"
    eval_every: int = Field(default=500, ge=1)
    augment: AugmentConfig = AugmentConfig()
    item_scores: Names = list(ITEM_SCORES)
    item_input: str = "masked"
    small_anomalies: bool = False
    head_holdout: float = Field(default=0.0, ge=0, lt=1)
    train_masks: Literal["true", "found", "both"] = "true"
    test_views: Literal[1, 4, 8] = 1
    overview: bool = False
    class_context: bool = False

    @field_validator("item_input")
    @classmethod
    def _item_input(cls, v: str) -> str:
        return known(v, ITEM_INPUTS, "item input")

    @model_validator(mode="after")
    def _shares(self) -> RecipeConfig:
        if self.positive + self.hard > 1:
            raise ValueError(f"positive ({self.positive}) + hard ({self.hard}) must not exceed 1")
        return self

    @field_validator("item_scores")
    @classmethod
    def _rules(cls, v: list[str]) -> list[str]:
        return [known(rule, ITEM_SCORES, "item score rule") for rule in v]

    @property
    def evaluations(self) -> int:
        """How many times val is scored: a study's epochs for item pipelines."""
        return -(-self.steps // self.eval_every)


class TrainingConfig(Strict):
    """Settings every trial shares."""

    momentum: float | None = Field(default=None, ge=0, lt=1)  # SGD's; default 0.9 (the paper's)
    weight_decay: float = Field(default=0.0, ge=0)
    crop_size: int = Field(default=64, ge=8, le=512)
    # crop mode, training only: superpixels classified per image (every positive, sampled negatives)
    crops_per_image: int = Field(default=16, ge=1)
    # local weight files, never downloaded: one per backbone ({resnet50: PATH, vgg16: PATH}), or one
    # file when the space has one backbone (models.weight_files: torchvision's layouts fit)
    weights: str | dict[str, str] | None = None
    seed: int = 0
    amp: bool = True  # on CUDA only
    torch_threads: int | None = Field(default=None, ge=1)  # per trial; default: its CPUs

    @field_validator("weights")
    @classmethod
    def _absolute_weights(cls, v: str | dict[str, str] | None) -> str | dict[str, str] | None:
        """Weight files made absolute: Tune runs trials in other working directories."""
        if isinstance(v, dict):
            return {name: absolute_path(path) for name, path in v.items()}
        return None if v is None else absolute_path(v)

    def weights_for(self, backbone: str) -> str | None:
        """The weight file a trial of ``backbone`` starts from (None: random init)."""
        return self.weights.get(backbone) if isinstance(self.weights, dict) else self.weights


class TrackingConfig(Strict):
    """Experiment trackers beside Tune's own files (TensorBoard event files in every trial folder):
    ``mlflow``, a tracking URI (``file:///abs/mlruns``, ``http://host:5000``) for Ray's MLflow
    callback, one run per trial in experiment ``experiment`` (default: the study's name)."""

    mlflow: str | None = None
    experiment: str | None = None

    @field_validator("mlflow")
    @classmethod
    def _no_credentials(cls, v: str | None) -> str | None:
        if v and "@" in v.split("://", 1)[-1].split("/", 1)[0]:
            raise ValueError("must not hold credentials; set MLFLOW_TRACKING_USERNAME and "
                             "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) in the environment")
        return v


class StudyConfig(Strict):
    name: str = Field(default="study", pattern=r"^[A-Za-z0-9_.-]+$")
    storage: str = "~/dualscan-runs"  # absolute path or URI (s3://, gs://)
    data: DataConfig
    space: SpaceConfig = SpaceConfig()
    search: SearchConfig = SearchConfig()
    objective: ObjectiveConfig = ObjectiveConfig()
    resources: ResourcesConfig = ResourcesConfig()
    training: TrainingConfig = TrainingConfig()
    items: ItemStageConfig = ItemStageConfig()
    recipe: RecipeConfig = RecipeConfig()
    tracking: TrackingConfig = TrackingConfig()
    retries: int = Field(default=1, ge=0)
    keep_checkpoints: int = Field(default=2, ge=1)

    @model_validator(mode="after")
    def _dense_encoders(self) -> StudyConfig:
        """Item sub-components in pool mode pool a U-Net's features: a backbone without one needs
        another mode listed (its trials take that one alone)."""
        if "subcomponent" in self.space.pipelines:
            modes = self.space.modes or [ModelSpec.mode]
            missing = [b for b in self.space.backbones if not modes_for("subcomponent", b, modes)]
            if missing:
                raise ValueError(f"space.backbones: {', '.join(missing)} has no dense (U-Net) encoder "
                                 "for the subcomponent pipeline's pool mode (valid: "
                                 f"{', '.join(DENSE_ENCODERS)}); list crop in space.modes for it")
        return self

    @model_validator(mode="after")
    def _space_knobs_act(self) -> StudyConfig:
        """A knob the space sets must act on some trial: superpixel knobs need a superpixel
        pipeline, λ learned SSN features, momentum SGD, crops_per_image the crop mode."""
        space = self.space
        superpixels = [p for p in space.pipelines if PIPELINES.declared(p).superpixels]
        if not superpixels:
            for field in ("k", "lam", "ssn_features", "modes", "anomaly_fractions"):
                if getattr(space, field) is not None:
                    raise ValueError(f"space.{field}: acts only on pipelines with superpixels (subcomponent, "
                                     f"ssn); space.pipelines has {', '.join(space.pipelines)}")
        features = space.ssn_features or [ModelSpec.ssn_feature]
        if space.lam is not None and not any(SSN_FEATURES.declared(f).learned for f in features):
            learned = ", ".join(f for f in SSN_FEATURES if SSN_FEATURES.declared(f).learned)
            raise ValueError("space.lam: λ weighs the SSN's compactness loss, which trains only SSN "
                             f"features with parameters ({learned}); space.ssn_features has "
                             f"{', '.join(features)} only")
        optimizers = space.optimizers or {default_optimizer(p) for p in space.pipelines}
        if self.training.momentum is not None and "sgd" not in optimizers:
            raise ValueError("training.momentum: acts on the sgd optimizer only, which no trial uses "
                             f"(optimizers: {', '.join(sorted(optimizers))})")
        crop = superpixels and "crop" in (space.modes or [ModelSpec.mode])
        if self.training.crops_per_image != TrainingConfig().crops_per_image and not crop:
            raise ValueError("training.crops_per_image: acts on the crop mode only, which the space does "
                             "not search")
        return self

    @model_validator(mode="after")
    def _item_recipe_acts(self) -> StudyConfig:
        """Recipe knobs of item pipelines are refused where no searched pipeline reads them."""
        item_first = [p for p in self.space.pipelines if PIPELINES.declared(p).item_first]
        recipe = self.recipe
        if recipe.item_input != "masked" and not item_first:
            raise ValueError(f"recipe.item_input: {recipe.item_input!r} acts on item-first pipelines only "
                             f"(subcomponent, object); space.pipelines has {', '.join(self.space.pipelines)}")
        for knob in ("small_anomalies", "head_holdout"):
            if getattr(recipe, knob) and "subcomponent" not in self.space.pipelines:
                raise ValueError(f"recipe.{knob}: acts on the subcomponent pipeline only, which "
                                 "space.pipelines does not list")
        pooled = "subcomponent" in self.space.pipelines and "pool" in (self.space.modes or [ModelSpec.mode])
        if recipe.test_views > 1 and not pooled:
            raise ValueError("recipe.test_views: averages the dense features of the subcomponent "
                             "pipeline's pool mode, which the space does not search")
        if recipe.overview and not pooled:
            raise ValueError("recipe.overview: modulates the dense features of the subcomponent "
                             "pipeline's pool mode, which the space does not search")
        if recipe.class_context and not pooled:
            raise ValueError("recipe.class_context: modulates the dense features of the subcomponent "
                             "pipeline's pool mode, which the space does not search")
        if recipe.class_context and not self.items.names_classes:
            raise ValueError(f"recipe.class_context: reads the classes the item stage names, but its "
                             f"{self.items.finder!r} finder names none (items.classes)")
        if recipe.head_holdout and "learned" not in recipe.item_scores:
            raise ValueError("recipe.head_holdout: holds items out for the learned item head, but "
                             "recipe.item_scores does not list 'learned'")
        return self

    @model_validator(mode="after")
    def _weights_per_backbone(self) -> StudyConfig:
        """A weight file starts one backbone: a mapping names searched backbones only, and one file
        for several backbones is refused (one network's weights fit no other)."""
        weights, backbones = self.training.weights, self.space.backbones
        if isinstance(weights, dict):
            for name in weights:
                known(name, BACKBONES, "backbone")
                if name not in backbones:
                    raise ValueError(f"training.weights.{name}: the space does not search backbone {name} "
                                     f"(space.backbones: {', '.join(backbones)})")
        elif weights is not None and len(backbones) > 1:
            raise ValueError(f"training.weights: one file for {len(backbones)} backbones; give one per "
                             f"backbone, e.g. {{{backbones[0]}: PATH}}")
        return self

    @model_validator(mode="after")
    def _stage_knobs_act(self) -> StudyConfig:
        """Sections only one kind of pipeline reads are refused, changed, where none is searched:
        recipe and items (item-first pipelines), space.epochs and data.image_size (whole-scan ones)."""
        item_first = [PIPELINES.declared(p).item_first for p in self.space.pipelines]
        items_read, scans_read = any(item_first), not all(item_first)
        checks = [("recipe", self.recipe, RecipeConfig(), RecipeConfig.model_fields, items_read),
                  ("items", self.items, ItemStageConfig(),
                   [f for f in ItemStageConfig.model_fields if f != "directory"], items_read),
                  ("space", self.space, SpaceConfig(), ("epochs",), scans_read),
                  ("data", self.data, DataConfig(archive=self.data.archive), ("image_size",), scans_read)]
        for name, section, default, fields, read in checks:
            changed = [f for f in fields if getattr(section, f) != getattr(default, f)]
            if changed and not read:
                readers = ("item-first pipelines (subcomponent, object)" if name in ("recipe", "items")
                           else "whole-scan pipelines (ssn, maskrcnn)")
                raise ValueError(f"{name}.{changed[0]}: acts on {readers} only; space.pipelines has "
                                 f"{', '.join(self.space.pipelines)}")
        return self

    @model_validator(mode="after")
    def _grid_needs_lists(self) -> StudyConfig:
        if self.search.algorithm == "grid":
            for field in ("k", "lam", "lr"):
                if isinstance(getattr(self.space, field), IntRange | LogRange):
                    raise ValueError(f"space.{field}: a grid search needs a list, not a range")
        return self

    @property
    def epochs(self) -> int:
        """The most epochs a trial reports: space.epochs for whole-scan pipelines, the recipe's
        evaluations for item-first ones."""
        return max(self.recipe.evaluations if PIPELINES.declared(name).item_first else self.space.epochs
                   for name in self.space.pipelines)

    def storage_uri(self) -> str:
        """``storage`` made absolute (Tune needs an absolute path or a URI)."""
        if "://" in self.storage:
            return self.storage
        return os.path.abspath(os.path.expanduser(self.storage))

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True)


def parse_config(data: dict, source: str = "<config>") -> StudyConfig:
    """A validated StudyConfig from plain data; errors name ``source`` and each bad field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a study config must be a mapping, got {type(data).__name__}")
    try:
        return StudyConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{source}: {reason(err)}") from None


def read_config_data(path: str, overrides: dict | None = None) -> dict:
    """A study config file as plain data (YAML safe_load, never executed), dotted ``overrides``
    applied, not yet validated."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a study config must be a mapping, got {type(data).__name__}")
    return with_dotted(data, overrides or {})


def with_dotted(data: dict, values: dict) -> dict:
    """Raw config ``data`` with each dotted key of ``values`` (``items.steps``) set, in place."""
    for dotted, value in values.items():
        node = data
        *parents, leaf = dotted.split(".")
        for depth, key in enumerate(parents):
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{dotted}: {'.'.join(parents[:depth + 1])} is a value "
                                  f"({node!r}), not a section with keys")
        node[leaf] = value
    return data


def load_config(path: str, overrides: dict | None = None) -> StudyConfig:
    """Read YAML (safe_load, never executed), apply dotted ``overrides``, validate."""
    return parse_config(read_config_data(path, overrides), path)
