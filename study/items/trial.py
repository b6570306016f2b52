"""One trial of an item-first pipeline: its item sets, training by the recipe, val every period,
and test scored once, on the weights val chose."""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import numpy as np
import torch

from models.calibration import choose_calibration
from models.inputs import autocast_for
from models.model_dir import ModelDirectory
from models.spec import ModelSpec
from scans.archive import Archive
from scans.modalities import build_input, modality_channels
from scans.node_cache import cache_root, cached_arrays
from scans.provenance import archive_record
from study.config import StudyConfig
from study.data import CACHE_FORMAT, split_ids
from study.evaluation import LevelScores, epoch_metrics
from study.items.data import SCORED_DTYPE, STORED_MARGIN, TRAIN_DTYPE, ItemSet, ItemSetBuilder
from study.items.evaluation import (
    ItemScores,
    calibrated_scores,
    calibration_record,
    choose_rule,
    fit_item_head,
    level_scores,
)
from study.items.stage import found_masks, found_splits
from study.items.train import Recipe, build_item_optimizer
from study.pipelines import PIPELINES, Pipeline
from study.recipes import recipe_run
from study.train import TrainState, load_checkpoint, pick_device

ITEM_SPLITS = ("train", "held_out", "val", "test", "val_true", "test_true")
_MEMORY: dict[str, ItemStudyData] = {}


@dataclass
class ItemStudyData:
    """Train's items (by ``recipe.train_masks``: true masks, found ones or both), less the last
    ``recipe.head_holdout`` share of train's scans, whose items are ``held_out`` for what is fitted
    on the trained model's scores (the learned item head: never val or test; found items when the
    stage found train's, as scoring sees them); val's and test's found items (end to end: what is
    scored and chosen on) and their true items (the classification-only bound)."""

    train: ItemSet
    held_out: ItemSet
    val: ItemSet
    test: ItemSet
    val_true: ItemSet
    test_true: ItemSet
    archive_pitch_mm: float | None = None
    archive: dict = field(default_factory=dict)  # scans.provenance.archive_record

    def summary(self) -> dict:
        """Item counts, the pitch and where the archive came from, for checkpoints and the model card."""
        return {**{f"n_{name}_items": len(getattr(self, name)) for name in ITEM_SPLITS},
                "n_val_missed": len(self.val.missed_scan), "n_test_missed": len(self.test.missed_scan),
                "archive_pitch_mm": self.archive_pitch_mm, "input_pitch_mm": self.archive_pitch_mm,
                **self.archive}


def stage_directory(study: StudyConfig) -> str:
    """The item stage a study's trials use: ``items.directory`` (run_study sets it)."""
    if study.items.directory is None:
        raise ValueError("items.directory is not set: item-first pipelines need a trained item stage "
                         "(dualscan study and dualscan train train one first)")
    return study.items.directory


def _read(study: StudyConfig, modality: str) -> ItemStudyData:
    archive = Archive(study.data.archive)
    ids = split_ids(study.data, archive)
    stage = stage_directory(study)
    builders = {name: ItemSetBuilder(TRAIN_DTYPE if name == "train" else SCORED_DTYPE)
                for name in ITEM_SPLITS}
    masks = study.recipe.train_masks
    found = {split: found_masks(stage, split) for split in found_splits(study)}
    names = {split: ModelDirectory(stage).found_classes(split) for split in found}  # {} names none
    n_held = round(len(ids["train"]) * study.recipe.head_holdout)
    held = set(ids["train"][len(ids["train"]) - n_held:])
    for split in ("train", "val", "test"):
        for scan_id in ids[split]:
            scan = archive.read(scan_id)
            if not scan.has_labels:
                raise ValueError(f"{archive.file_uri(scan_id)}: training needs labels "
                                 "(objects, parts, anomaly), this scan has none")
            image = build_input(scan, modality)
            if split in found and scan_id not in found[split]:
                raise ValueError(f"{stage}/found.npz has no {split} scan {scan_id!r}: the item stage was "
                                 "trained for another archive or split (or, for train, found none: "
                                 "recipe.train_masks needs them); retrain it")
            named = names[split].get(scan_id) if split in found else None
            if split == "train" and scan_id in held:
                builders["held_out"].add_scan(scan, image, found[split][scan_id] if split in found else None,
                                              named)
                continue
            if split == "train":
                if masks != "found":
                    builders["train"].add_scan(scan, image)
                if masks != "true":
                    builders["train"].add_scan(scan, image, found[split][scan_id], named)
                continue
            builders[split].add_scan(scan, image, found[split][scan_id], named)
            builders[f"{split}_true"].add_scan(scan, image)
    channels = modality_channels(modality)
    # each builder goes as its set is made: its crops are not held twice beside every other set's
    sets = {name: builders.pop(name).build(channels) for name in ITEM_SPLITS}
    return ItemStudyData(**sets, archive_pitch_mm=archive.pitch_mm, archive=archive_record(archive))


def _cache_key(study: StudyConfig, modality: str) -> str:
    stage = ModelDirectory(stage_directory(study))
    identity = {"format": CACHE_FORMAT, "items": 5, "margin": STORED_MARGIN,
                "head_holdout": study.recipe.head_holdout,
                "train_masks": study.recipe.train_masks, "archive": study.data.archive,
                "modality": modality,
                "data": study.data.model_dump(exclude={"cache"}),
                "found": stage.found_sha256()}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:20]


def forget_item_study_data() -> None:
    """Drop this process's references to loaded item sets (their memory maps close)."""
    _MEMORY.clear()


def load_item_study_data(study: StudyConfig, modality: str) -> ItemStudyData:
    """The item sets for one modality: from this process's memory, else the node's cache (memory-
    mapped: one copy per node however many trials read it), else cut from the archive once and
    cached."""
    key = _cache_key(study, modality)
    if key in _MEMORY:
        return _MEMORY[key]

    def build() -> dict[str, np.ndarray]:
        data = _read(study, modality)
        return {f"{name}/{column.name}": getattr(getattr(data, name), column.name)
                for name in ITEM_SPLITS for column in fields(ItemSet)}

    arrays = cached_arrays(cache_root(study.data.cache), f"dualscan-items-{key}", build)
    sets = {name: ItemSet.from_npz({f.name: arrays[f"{name}/{f.name}"] for f in fields(ItemSet)})
            for name in ITEM_SPLITS}
    archive = Archive(study.data.archive)
    data = ItemStudyData(**sets, archive_pitch_mm=archive.pitch_mm, archive=archive_record(archive))
    _MEMORY[key] = data
    return data


def recipe_of(study: StudyConfig, trial: ModelSpec) -> Recipe:
    """The study's recipe with the trial's optimizer, learning rate and batch."""
    return Recipe(**study.recipe.model_dump(), batch=trial.batch_size, lr=trial.lr, optimizer=trial.optimizer,
                  momentum=study.training.momentum)


def _chosen(scores: ItemScores, rules: list[str]) -> ItemScores:
    chosen = {r: scores.by_rule[r] for r in rules if r in scores.by_rule}
    return replace(scores, by_rule=chosen or scores.by_rule, evidence=None)


@dataclass
class _ItemRun:
    """One item-first trial as it trains: what its val passes and its end share."""

    study: StudyConfig
    pipeline: Pipeline
    model: torch.nn.Module
    data: ItemStudyData
    device: torch.device
    recipe: Recipe
    views: int  # the model's test views: one in the val passes between steps, every one at the end
    best: dict  # the best val epoch so far: its signed objective, rule, val scores, items, weights, epoch

    @property
    def sign(self) -> int:
        """1 where the objective is maximised, −1 where it is minimised."""
        return 1 if self.study.objective.mode == "max" else -1

    def score(self, items: ItemSet) -> ItemScores:
        """The model's scores of ``items`` by every rule it has."""
        return self.pipeline.score(self.model, items, self.device)

    def score_val(self) -> ItemScores:
        """Val's found items by the rules the study lets val choose among."""
        return _chosen(self.score(self.data.val), self.study.recipe.item_scores)

    def record(self, val: LevelScores, test: LevelScores) -> dict:
        """An epoch's figures of ``val`` and ``test`` by the study's objective."""
        objective = self.study.objective
        return epoch_metrics(val, test, objective.metric, objective.mode, objective.fp_target)


def _val_pass(run: _ItemRun, step: int) -> tuple[str, dict, dict]:
    """The val pass after ``step``: val's found items scored, the item-score rule and threshold
    chosen on them, the epoch kept when it is the best so far; its rule, scores and figures."""
    val = run.score_val()
    rule, _ = choose_rule(run.data.val, val)
    val_levels = level_scores(run.data.val, val, rule)
    empty = LevelScores()
    record = run.record(val_levels, empty)
    if run.sign * record["objective"] > run.best["objective"]:
        run.best.update(objective=run.sign * record["objective"], rule=rule, val=val_levels, items=val,
                        state=copy.deepcopy(run.model.state_dict()),
                        epoch=math.ceil(step / run.recipe.eval_every))
    return rule, {"val": val_levels, "test": empty}, record


def _final_rule(run: _ItemRun) -> str:
    """The best val epoch's weights back (every test view on), the item head fitted on held-out
    train items, and val's final choice of rule."""
    model, data, best = run.model, run.data, run.best
    model.load_state_dict(best["state"])
    if run.views > 1:
        model.test_views = run.views
    head = getattr(model, "item_head", None) is not None and len(set(data.held_out.anomalous)) == 2
    if head:
        # the item head learns on held-out train items (both kinds needed; else it stays
        # unfitted and unchosen); val then chooses among every rule
        fit_item_head(model, data.held_out, run.device)
    if head or run.views > 1 or "items" not in best:  # (a resumed best epoch kept no item scores)
        val = run.score_val()
        best["rule"], _ = choose_rule(data.val, val)
        best["items"] = val
    return best["rule"]


def _end(run: _ItemRun, state: TrainState) -> tuple[str, dict, dict]:
    """After the last step: val's final choice, item scores made probabilities by a map fitted on
    val's found items (``state.calibration``), and test (found items, true ones as the bound)
    scored once; the rule, scores and figures the last report carries."""
    data, best = run.data, run.best
    rule = _final_rule(run)
    calibration = choose_calibration(best["items"].by_rule[rule], data.val.anomalous, "val",
                                     seed=run.study.training.seed)
    state.calibration = None if calibration is None else calibration.as_dict()
    best["val"] = level_scores(data.val, calibrated_scores(best["items"], rule, calibration), rule)
    raw_test = run.score(data.test)
    test = level_scores(data.test, calibrated_scores(raw_test, rule, calibration), rule)
    val_true, test_true = (level_scores(items, calibrated_scores(run.score(items), rule, calibration), rule)
                           for items in (data.val_true, data.test_true))
    scores = {"val": best["val"], "test": test, "val_true": val_true, "test_true": test_true}
    record = run.record(best["val"], test)
    true_record = run.record(val_true, test_true)
    record.update({f"true_{k}": v for k, v in true_record.items() if k.startswith(("val_", "test_"))})
    record["chosen_epoch"] = best["epoch"]
    record.update(calibration_record(raw_test.by_rule[rule], data.test.anomalous, calibration))
    return rule, scores, record


def train_item_trial(study: StudyConfig, trial: ModelSpec, on_epoch: Callable[[dict, TrainState], None],
                     resume: str | None = None, data: ItemStudyData | None = None) -> dict:
    """Train ``trial`` by the study's recipe; every ``eval_every`` steps (an epoch) score val's found
    items, choose the item-score rule and the threshold on them, and report. After the last step
    the weights of the best val epoch come back, a model with an item head fits it on the held-out
    train items and val chooses the rule again (the learned one among them), and test (found
    items, and true items as the bound) is scored once: the last epoch's report and checkpoint
    are the chosen ones. A model with ``test_views`` mines and ranks epochs on one view (the val passes
    between steps) and scores the end (held-out, val again, test) with all of them."""
    device = pick_device()
    torch.manual_seed(study.training.seed)
    data = data or load_item_study_data(study, trial.modality)
    pipeline = PIPELINES[trial.pipeline]
    model = pipeline.build(trial).to(device)
    recipe = recipe_of(study, trial)
    optimizer, schedule = build_item_optimizer(model, recipe)
    state = TrainState(model, optimizer, data=data.summary(), run=recipe_run(study, trial, device))
    if resume is not None:
        load_checkpoint(resume, state, schedule)
    objective = study.objective
    sign = 1 if objective.mode == "max" else -1
    best: dict = {"objective": -math.inf}
    if resume is not None:  # the checkpoint resumed from is the best so far that val has seen
        resumed = ModelDirectory(resume).metrics()
        best.update(objective=sign * resumed["objective"], rule=resumed["item_score"],
                    val=state.scores["val"], state=copy.deepcopy(model.state_dict()), epoch=state.epoch)
    metrics: dict = {}
    views = getattr(model, "test_views", 1)
    if views > 1:
        model.test_views = 1  # mining and ranking epochs look at one view; the end uses every view

    run = _ItemRun(study, pipeline, model, data, device, recipe, views, best)

    def on_eval(step: int, log) -> str:
        nonlocal metrics
        rule, scores, record = _val_pass(run, step)
        if step == recipe.steps:  # the end: val's choice is final, test is scored once with it
            rule, scores, record = _end(run, state)
        state.epoch = math.ceil(step / recipe.eval_every)
        state.scores = scores
        state.schedule = schedule.state_dict()  # resumes the one-cycle schedule
        metrics = {"epoch": state.epoch, "train_loss": log.loss, "step": step, "train_seconds": log.seconds,
                   "lr": float(schedule.get_last_lr()[0]), "item_score": rule, **record}
        on_epoch(metrics, state)
        return f"val {study.objective.metric} {metrics.get('objective', float('nan')):.3f} ({rule})"

    start_step = state.epoch * recipe.eval_every
    if start_step < recipe.steps:
        # one numeric policy: training, val and test under the autocast scoring uses (none on a CPU)
        with autocast_for(device, study.training.amp):
            pipeline.fit(model, data.train, recipe, device, on_eval, seed=study.training.seed + start_step,
                         start_step=start_step, optimizer=optimizer, schedule=schedule)
    return metrics

