"""A study's progress: Tune's own status on a terminal, elsewhere one line at most every 30 s."""

from __future__ import annotations

import sys
import time
from collections import Counter

from ray import tune

from scans.progress import LINE_INTERVAL_S, format_rate, is_terminal
from study.config import StudyConfig


class TrialLines(tune.Callback):
    """``study NAME: 3/8 trials done (2 running, 0 errored), 41 epochs reported, best val
    object_auroc 0.8123, 1.2 epochs/min, 600 s``: after a trial's result when ``interval`` seconds
    have passed since the last line, and at the experiment's end. A Tune callback, so it works with
    whatever console output Tune prints (none: ``verbose=0``)."""

    def __init__(self, name: str, metric: str, mode: str, interval: float = LINE_INTERVAL_S, stream=None):
        self.name, self.metric, self.mode, self.interval = name, metric, mode, interval
        self.stream = stream
        self.started = time.monotonic()
        self.last_line = -float("inf")
        self.total: int | None = None
        self.results: dict[str, dict] = {}  # each trial's latest result (Tune updates its own after us)

    def setup(self, stop=None, num_samples=None, total_num_samples=None, **info) -> None:
        self.total = total_num_samples
        self.started, self.last_line = time.monotonic(), -float("inf")  # a resumed study: from now

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info) -> None:
        self.results[trial.trial_id] = result
        if time.monotonic() - self.last_line >= self.interval:
            self.report(trials)

    def on_experiment_end(self, trials: list, **info) -> None:
        self.report(trials)

    def _last_result(self, trial) -> dict:
        return self.results.get(trial.trial_id) or trial.last_result or {}

    def line(self, trials: list) -> str:
        """The progress line for ``trials`` now."""
        status = Counter(t.status for t in trials)
        finished = status["TERMINATED"] + status["ERROR"]
        total = max(self.total or 0, len(trials))
        last = [self._last_result(t) for t in trials]
        epochs = sum(int(r.get("training_iteration", 0)) for r in last)
        values = [r["objective"] for r in last if "objective" in r]
        best = (max if self.mode == "max" else min)(values) if values else None
        elapsed = time.monotonic() - self.started
        text = (f"study {self.name}: {finished}/{total} trials done ({status['RUNNING']} running, "
                f"{status['ERROR']} errored), {epochs} epochs reported")
        if best is not None:
            text += f", best val {self.metric} {best:.4f}"
        return text + f", {format_rate(epochs, elapsed, 'epochs')}, {elapsed:.0f} s"

    def report(self, trials: list) -> None:
        """Print the line now."""
        self.last_line = time.monotonic()
        print(self.line(trials), file=self.stream if self.stream is not None else sys.stdout, flush=True)


def on_terminal() -> bool:
    """Whether the study's output goes to an interactive terminal."""
    return is_terminal(sys.stdout)


def progress_verbosity() -> int:
    """Tune's ``verbose``: its status table on a terminal (1), nothing elsewhere (0: TrialLines)."""
    return 1 if on_terminal() else 0


def progress_callbacks(config: StudyConfig) -> list[tune.Callback]:
    """One progress line at most every 30 s off a terminal (CI, logs, `ray job logs`); none on one."""
    if on_terminal():
        return []
    return [TrialLines(config.name, config.objective.metric, config.objective.mode)]
