"""The item stage's learning curve: its mean train loss over equal stretches of the steps it trained."""

from __future__ import annotations

import pytest

from study.items.stage import loss_curve


def test_the_curve_means_each_stretch_and_names_the_step_it_ends_at():
    losses = [float(i) for i in range(100)]
    curve = loss_curve(losses, points=4)
    assert curve == [[25, 12.0], [50, 37.0], [75, 62.0], [100, 87.0]]
    # a resumed stage's steps count on from where it resumed
    assert [step for step, _ in loss_curve(losses, start=300, points=4)] == [325, 350, 375, 400]


def test_a_short_run_gives_a_point_a_step_and_none_gives_no_curve():
    assert loss_curve([3.0, 1.0], points=20) == [[1, 3.0], [2, 1.0]]
    assert loss_curve([]) == []
    assert sum(s for _, s in loss_curve([1.0] * 7, points=3)) == pytest.approx(3.0)
