"""A study's progress: Tune's table on a terminal, elsewhere one line at most every 30 s."""

from __future__ import annotations

import sys
import time
from collections import Counter

from ray import tune

from scans.progress import LINE_INTERVAL_S, format_rate, is_terminal
from study.config import StudyConfig

# the Tune table: these metrics and the point's fields, not pages of log lines
TABLE_PARAMETERS = {f"point/{k}": k for k in ("pipeline", "backbone", "modality", "k", "lam", "lr")}


class TrialLines(tune.ProgressReporter):
    """``study NAME: 3/8 trials done (2 running, 0 errored), 41 epochs reported, best val
    object_auroc 0.8123, 1.2 epochs/min, 600 s``: when ``interval`` seconds have passed, and at the end."""

    def __init__(self, name: str, metric: str, mode: str, interval: float = LINE_INTERVAL_S, stream=None):
        self.name, self.metric, self.mode, self.interval = name, metric, mode, interval
        self.stream = stream
        self.started = time.monotonic()
        self.last_line = -float("inf")
        self.total: int | None = None

    def setup(self, start_time=None, total_samples=None, metric=None, mode=None, **kwargs) -> None:
        self.total = total_samples

    def should_report(self, trials, done: bool = False) -> bool:
        return done or time.monotonic() - self.last_line >= self.interval

    def line(self, trials) -> str:
        """The progress line for ``trials`` now."""
        status = Counter(t.status for t in trials)
        finished = status["TERMINATED"] + status["ERROR"]
        total = max(self.total or 0, len(trials))
        epochs = sum(int((t.last_result or {}).get("training_iteration", 0)) for t in trials)
        values = [t.last_result["objective"] for t in trials if "objective" in (t.last_result or {})]
        best = (max if self.mode == "max" else min)(values) if values else None
        elapsed = time.monotonic() - self.started
        text = (f"study {self.name}: {finished}/{total} trials done ({status['RUNNING']} running, "
                f"{status['ERROR']} errored), {epochs} epochs reported")
        if best is not None:
            text += f", best val {self.metric} {best:.4f}"
        return text + f", {format_rate(epochs, elapsed, 'epochs')}, {elapsed:.0f} s"

    def report(self, trials, done: bool, *sys_info: str) -> None:
        self.last_line = time.monotonic()
        print(self.line(trials), file=self.stream if self.stream is not None else sys.stdout, flush=True)


def study_reporter(config: StudyConfig) -> tune.ProgressReporter:
    """Tune's table on a terminal; one line at most every 30 s elsewhere (CI, logs, `ray job logs`)."""
    if not is_terminal(sys.stdout):
        return TrialLines(config.name, config.objective.metric, config.objective.mode)
    metrics = {"epoch": "epoch", "objective": f"val {config.objective.metric}"}
    for name in (f"test_{config.objective.metric}", "test_object_tp_pct", "test_object_fp_pct"):
        metrics.setdefault(name, name.replace("_pct", "%").replace("object_", "obj_"))
    return tune.CLIReporter(metric_columns=metrics, parameter_columns=TABLE_PARAMETERS,
                            max_report_frequency=30, sort_by_metric=True)
