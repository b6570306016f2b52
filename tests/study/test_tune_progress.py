"""A study's progress off a terminal: one line with trials done, running and errored, and the best,
from a Tune callback that works with Tune's current console output."""

from __future__ import annotations

import io
import os
from types import SimpleNamespace

import pytest

from study.tune_progress import TrialLines


def _trial(trial_id: str, status: str, objective: float | None, iterations: int):
    result = {"training_iteration": iterations} | ({} if objective is None else {"objective": objective})
    return SimpleNamespace(trial_id=trial_id, status=status, last_result=result)


def test_one_line_with_counts_and_the_best_val_objective():
    out = io.StringIO()
    lines = TrialLines("smoke", "object_auroc", "max", interval=30, stream=out)
    lines.setup(total_num_samples=5)
    trials = [_trial("a", "TERMINATED", 0.71, 3), _trial("b", "RUNNING", 0.5, 1),
              _trial("c", "ERROR", None, 0), _trial("d", "PENDING", None, 0)]
    # Tune calls back before it updates the trial's own last result: the callback's result counts
    lines.on_trial_result(iteration=1, trials=trials, trial=trials[1],
                          result={"training_iteration": 2, "objective": 0.83})
    lines.on_trial_result(iteration=2, trials=trials, trial=trials[0], result=trials[0].last_result)
    assert len(out.getvalue().splitlines()) == 1  # the second result came within the interval
    line = out.getvalue().strip()
    assert line.startswith("study smoke: 2/5 trials done (1 running, 1 errored), 5 epochs reported, "
                           "best val object_auroc 0.8300, ")
    lines.on_experiment_end(trials=trials)
    assert len(out.getvalue().splitlines()) == 2  # and one at the end, whatever the interval


def _reports(config):
    from ray import tune

    for epoch in (1, 2):
        tune.report({"epoch": epoch, "objective": config["x"] * epoch})


@pytest.mark.slow
def test_lines_come_from_a_tuner_with_tunes_own_output(ray_session, tmp_path, capsys, monkeypatch):
    from ray import tune

    monkeypatch.delenv("RAY_AIR_NEW_OUTPUT", raising=False)  # Tune's current console output
    out = io.StringIO()
    lines = TrialLines("lines", "objective", "max", stream=out)
    tuner = tune.Tuner(_reports, param_space={"x": tune.grid_search([0.1, 0.3])},
                       tune_config=tune.TuneConfig(metric="objective", mode="max"),
                       run_config=tune.RunConfig(name="lines", storage_path=str(tmp_path), verbose=0,
                                                 callbacks=[lines]))
    assert not tuner.fit().errors
    assert os.environ.get("RAY_AIR_NEW_OUTPUT", "1") != "0"
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith("study lines: 2/2 trials done (0 running, 0 errored), 4 epochs reported, "
                           "best val objective 0.6000, "), out.getvalue()
    assert "Trial status" not in capsys.readouterr().out  # verbose=0: Tune's table stays off
