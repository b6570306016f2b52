"""A finished (or interrupted) study read back from its run directory through Tune's public API
(ExperimentAnalysis and ResultGrid: no cluster needed, and no reading of Tune's own files)."""

from __future__ import annotations

import json
import posixpath
import zipfile
from dataclasses import dataclass, field

from scans.storage import Location
from study.evaluation import SCORES_FILE, LevelScores, read_scores_npz


@dataclass
class TrialRecord:
    """One Tune trial: its directory, its point of the space, each epoch's metrics once, in order,
    and the checkpoints it kept: (directory, that epoch's metrics), directories relative to the run."""

    directory: str
    point: dict
    epochs: list[dict]
    checkpoints: list[tuple[str, dict]] = field(default_factory=list)

    def best_epoch(self, mode: str) -> dict:
        """The epoch with the best objective (the last one on ties)."""
        sign = 1 if mode == "max" else -1
        return max(reversed(self.epochs), key=lambda m: sign * m["objective"])


def tune_trials(run: Location) -> list[tuple]:
    """(Tune's Trial, its ray.tune.Result) for every trial of the run's newest experiment state, as
    Tune's ExperimentAnalysis reads it from the run's storage; none before Tune has written one."""
    from ray.tune import ExperimentAnalysis, ResultGrid

    if not run.exists():
        return []
    try:
        analysis = ExperimentAnalysis(run.path, storage_filesystem=run.fs)
    except ValueError:  # no experiment state yet: the study has not started its trials
        return []
    return list(zip(analysis.trials, ResultGrid(analysis), strict=True))


def _relative(run: Location, path: str) -> str:
    return posixpath.relpath(path, run.path)


def _epochs(run: Location, directory: str, frame) -> list[dict]:
    """Each epoch's reported metrics once, in order: a trial restored from a checkpoint reports the
    epochs after it again, and the last report wins."""
    if frame is None or "objective" not in frame or "epoch" not in frame:
        return []
    if not any(str(column).startswith("val_") for column in frame.columns):
        raise ValueError(f"{run.uri_of(directory)}: this trial was run before studies chose on val (its "
                         "objective was computed on test); rerun the study")
    by_epoch = {int(e["epoch"]): e for e in frame[frame["epoch"].notna()].to_dict("records")}
    return [by_epoch[k] for k in sorted(by_epoch)]


def _kept(run: Location, result) -> list[tuple[str, dict]]:
    """(directory, metrics) of the checkpoints Tune kept for a trial; the metrics from the
    checkpoint's own metrics.json when it has one (what training wrote), else as Tune recorded them."""
    out = []
    for checkpoint, metrics in result.best_checkpoints or []:
        directory = _relative(run, checkpoint.path)
        own = f"{directory}/metrics.json"
        out.append((directory, json.loads(run.read_bytes(own)) if run.exists(own) else dict(metrics)))
    return out


def load_trials(run: Location) -> list[TrialRecord]:
    """Every trial of a run with at least one reported epoch, by directory."""
    trials = []
    for trial, result in tune_trials(run):
        directory = _relative(run, result.path)
        epochs = _epochs(run, directory, result.metrics_dataframe)
        if epochs:
            trials.append(TrialRecord(directory, trial.config.get("point", {}), epochs, _kept(run, result)))
    return sorted(trials, key=lambda t: t.directory)


@dataclass
class ChosenEpoch:
    """The epoch val chose for a trial: its kept checkpoint (None for a trial that kept none),
    that epoch's metrics and, when the checkpoint holds them, its val and test scores."""

    trial: TrialRecord
    checkpoint: str | None
    metrics: dict
    scores: dict[str, LevelScores] | None
    training_run: dict | None = None  # the recipe it ran (config.json), when the checkpoint records it
    train_models: dict[str, list[int]] | None = None  # the item models its train split held, when known


def choose_epoch(run: Location, trial: TrialRecord, mode: str) -> ChosenEpoch:
    """The kept checkpoint with the best val objective (the latest on ties): Tune keeps the best by
    the same objective, so this is the trial's best epoch. A trial without checkpoints falls back to
    its best reported epoch, without scores."""
    sign = 1 if mode == "max" else -1
    kept = trial.checkpoints
    if not kept:
        return ChosenEpoch(trial, None, trial.best_epoch(mode), None)
    directory, metrics = max(kept, key=lambda c: (sign * c[1]["objective"], c[1].get("epoch", 0)))
    path = f"{directory}/{SCORES_FILE}"
    scores = None
    if run.exists(path):
        try:
            scores = read_scores_npz(run.read_bytes(path))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(f"{run.uri_of(path)}: unreadable checkpoint scores "
                             f"({type(err).__name__}: {err})") from None
    path = f"{directory}/config.json"
    config = json.loads(run.read_bytes(path)) if run.exists(path) else {}
    train_models = (config.get("data") or {}).get("train_models")
    return ChosenEpoch(trial, directory, metrics, scores, config.get("training_run"),
                       train_models if isinstance(train_models, dict) else None)


@dataclass
class TrialStatus:
    """A trial as Tune last recorded it: status (TERMINATED, ERROR, ...) and, for an errored trial,
    the last line of its error (the exception's message)."""

    directory: str
    point: dict
    status: str
    error: str | None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def load_statuses(run: Location) -> list[TrialStatus]:
    """Every trial of the run's newest experiment state (none before Tune has written one)."""
    out = []
    for trial, result in tune_trials(run):
        error = None
        if trial.status == "ERROR":
            error = _last_line(str(result.error)) if result.error is not None else "no error recorded"
        out.append(TrialStatus(_relative(run, result.path), trial.config.get("point", {}), trial.status,
                               error))
    return out
