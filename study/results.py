"""A finished (or interrupted) study read back from its run directory, without Ray."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass

from scans.storage import Location
from study.evaluation import SCORES_FILE, LevelScores, read_scores_npz


@dataclass
class TrialRecord:
    """One Tune trial: its directory, its point of the space, each epoch's metrics once, in order."""

    directory: str
    point: dict
    epochs: list[dict]

    def best_epoch(self, mode: str) -> dict:
        """The epoch with the best objective (the last one on ties)."""
        sign = 1 if mode == "max" else -1
        return max(reversed(self.epochs), key=lambda m: sign * m["objective"])


def load_trials(run: Location) -> list[TrialRecord]:
    """Every trial directory of a run with at least one reported epoch."""
    trials = []
    for name in run.list_dirs():
        if not run.exists(f"{name}/result.json"):
            continue
        lines = run.read_bytes(f"{name}/result.json").decode().splitlines()
        epochs = [json.loads(line) for line in lines if line.strip()]
        # a trial restored from a checkpoint reports the epochs after it again: the last report wins
        by_epoch = {int(e["epoch"]): e for e in epochs if "objective" in e}
        if any(not any(k.startswith("val_") for k in e) for e in by_epoch.values()):
            raise ValueError(f"{run.uri_of(name + '/result.json')}: this trial was run before studies "
                             "chose on val (its objective was computed on test); rerun the study")
        if by_epoch:
            ordered = [by_epoch[k] for k in sorted(by_epoch)]
            trials.append(TrialRecord(name, ordered[-1]["config"]["point"], ordered))
    return trials


@dataclass
class ChosenEpoch:
    """The epoch val chose for a trial: its kept checkpoint (None for a trial that kept none),
    that epoch's metrics and, when the checkpoint holds them, its val and test scores."""

    trial: TrialRecord
    checkpoint: str | None
    metrics: dict
    scores: dict[str, LevelScores] | None
    training_run: dict | None = None  # the recipe it ran (config.json), when the checkpoint records it


def choose_epoch(run: Location, trial: TrialRecord, mode: str) -> ChosenEpoch:
    """The kept checkpoint with the best val objective (the latest on ties): Tune keeps the best by
    the same objective, so this is the trial's best epoch. A trial without checkpoints falls back to
    its best reported epoch, without scores."""
    sign = 1 if mode == "max" else -1
    kept = checkpoints(run, trial)
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
    config = f"{directory}/config.json"
    run_record = json.loads(run.read_bytes(config)).get("training_run") if run.exists(config) else None
    return ChosenEpoch(trial, directory, metrics, scores, run_record)


def checkpoints(run: Location, trial: TrialRecord) -> list[tuple[str, dict]]:
    """(relative directory, metrics) of the checkpoints a trial kept."""
    out = []
    for name in run.list_dirs(trial.directory):
        relative = f"{trial.directory}/{name}"
        if name.startswith("checkpoint_") and run.exists(f"{relative}/metrics.json"):
            out.append((relative, json.loads(run.read_bytes(f"{relative}/metrics.json"))))
    return out


@dataclass
class TrialStatus:
    """A trial as Tune's experiment state last recorded it: status (TERMINATED, ERROR, ...) and, for
    an errored trial, the last line of its error.txt."""

    directory: str
    point: dict
    status: str
    error: str | None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def load_statuses(run: Location) -> list[TrialStatus]:
    """Every trial of the run's newest experiment state (none before Tune has written one)."""
    states = sorted(name for name in run.list_files()
                    if name.startswith("experiment_state-") and name.endswith(".json"))
    if not states:
        return []
    out = []
    for trial_json, _ in json.loads(run.read_bytes(states[-1]))["trial_data"]:
        trial = json.loads(trial_json)
        directory = trial["relative_logdir"]
        error = None
        if trial["status"] == "ERROR":
            error = (_last_line(run.read_bytes(f"{directory}/error.txt").decode(errors="replace"))
                     if run.exists(f"{directory}/error.txt") else "no error.txt")
        out.append(TrialStatus(directory, trial["config"].get("point", {}), trial["status"], error))
    return out
