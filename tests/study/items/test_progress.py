"""Long training shows its progress: lines at least once a minute on a slow run, with the rate, the
time left, the loss and the last val figure (a clock the test moves: nothing sleeps)."""

from __future__ import annotations

import re

import torch

from study.items.train import Recipe, build_item_optimizer, run_steps

STEP_S = 7.0  # a slow step: the bar's runs take about 0.45 s


class FakeTime:
    """What scans.progress reads of ``time``: a clock the steps move."""

    now = 0.0

    @classmethod
    def monotonic(cls) -> float:
        return cls.now


def test_a_slow_training_prints_a_line_at_least_once_a_minute(monkeypatch, capsys):
    monkeypatch.setattr("scans.progress.time", FakeTime)
    FakeTime.now = 0.0
    model = torch.nn.Linear(2, 1)
    recipe = Recipe(steps=60, eval_every=20, schedule="constant")
    optimizer, schedule = build_item_optimizer(model, recipe)

    def step_loss(step: int) -> torch.Tensor:
        FakeTime.now += STEP_S
        return model(torch.ones(4, 2)).pow(2).mean()

    run_steps(model, recipe, optimizer, schedule, 0, step_loss,
              lambda step, log: f"val object_auroc {0.5 + step / 1000:.3f}", label="train")
    lines = capsys.readouterr().err.strip().splitlines()
    progress = [line for line in lines if re.match(r"train: \d+/60 steps", line)]
    done = [int(re.match(r"train: (\d+)/", line).group(1)) for line in progress]
    gaps = [b - a for a, b in zip([0, *done], done, strict=False)]
    assert progress and max(gaps) * STEP_S <= 60, lines  # never a minute without a line
    assert all("steps/s" in line or "min per step" in line for line in progress)
    assert "s left" in progress[0] and re.search(r"loss \d\.\d{4}", progress[0])
    after_val = [line for d, line in zip(done, progress, strict=True) if d > 20]
    assert after_val and "val object_auroc 0.520 at step 20" in after_val[0]
    assert lines[-1].startswith("train: 60 steps in 420.0 s")  # the summary
