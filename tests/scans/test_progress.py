"""Progress off a terminal: a line at most every interval with done/total and rate, a summary at the end."""

from __future__ import annotations

import io

from scans.progress import ProgressLines, format_rate, progress_of


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lines_at_most_every_interval_then_a_summary():
    clock, out = Clock(), io.StringIO()
    bar = ProgressLines("score", 100, "scans", stream=out, interval=30, clock=clock)
    for _ in range(100):
        clock.now += 1.0  # one scan a second: 100 s in all
        bar.update()
    bar.close()
    bar.close()  # once only
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["score: 30/100 scans (30 %), 1 scans/s, 30 s, about 70 s left",
                         "score: 60/100 scans (60 %), 1 scans/s, 60 s, about 40 s left",
                         "score: 90/100 scans (90 %), 1 scans/s, 90 s, about 10 s left"]
    assert lines[3:] == ["score: 100 scans in 100.0 s (1 scans/s)"]


def test_slow_stages_give_time_per_unit_and_an_unknown_total_no_percentage():
    assert format_rate(3, 600, "trials") == "3.33 min per trial"
    clock, out = Clock(), io.StringIO()
    bar = ProgressLines("study", None, "epochs", stream=out, interval=10, clock=clock)
    clock.now = 20.0
    bar.set(4)
    assert out.getvalue() == "study: 4 epochs, 0.2 epochs/s, 20 s\n"


def test_not_on_a_terminal_progress_is_lines(capsys):
    bar = progress_of("synth", 3, "scans")  # pytest's captured stderr is no terminal
    assert isinstance(bar, ProgressLines)
    bar.update(3)
    bar.close()
    assert capsys.readouterr().err.startswith("synth: 3 scans in ")
