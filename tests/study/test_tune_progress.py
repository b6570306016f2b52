"""A study's progress off a terminal: one line with trials done, running and errored, and the best."""

from __future__ import annotations

import io
from types import SimpleNamespace

from study.tune_progress import TrialLines


def _trial(status: str, objective: float | None, iterations: int):
    result = {"training_iteration": iterations} | ({} if objective is None else {"objective": objective})
    return SimpleNamespace(status=status, last_result=result)


def test_one_line_with_counts_and_the_best_val_objective():
    out = io.StringIO()
    reporter = TrialLines("smoke", "object_auroc", "max", interval=30, stream=out)
    reporter.setup(total_samples=5)
    trials = [_trial("TERMINATED", 0.71, 3), _trial("RUNNING", 0.83, 2), _trial("ERROR", None, 0),
              _trial("PENDING", None, 0)]
    assert reporter.should_report(trials)
    reporter.report(trials, done=False)
    assert not reporter.should_report(trials) and reporter.should_report(trials, done=True)
    line = out.getvalue().strip()
    assert "\n" not in line
    assert line.startswith("study smoke: 2/5 trials done (1 running, 1 errored), 5 epochs reported, "
                           "best val object_auroc 0.8300, ")
