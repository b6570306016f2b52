"""Progress of long work: tqdm's bar on a terminal, elsewhere one line at most every 30 s."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

LINE_INTERVAL_S = 30.0  # not on a terminal (CI, `make demo > log`, `ray job logs`): at most this often


def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default stderr, where bars go) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def format_rate(done: float, seconds: float, unit: str) -> str:
    """``12.5 scans/s`` (or ``min`` per unit when slow)."""
    if done <= 0 or seconds <= 0:
        return f"0 {unit}/s"
    rate = done / seconds
    if rate >= 0.1:
        return f"{rate:.3g} {unit}/s"
    return f"{seconds / done / 60:.3g} min per {unit.rstrip('s')}"


class ProgressLines:
    """Progress as plain lines: ``label: done/total unit (pct), rate, elapsed, eta[, postfix]``
    (the postfix: what the work adds, a loss, a val figure), printed when
    ``interval`` seconds have passed since the last line, and one summary line at ``close``."""

    def __init__(self, label: str, total: int | None, unit: str = "items", *,
                 stream: TextIO | None = None, interval: float = LINE_INTERVAL_S,
                 clock: Callable[[], float] | None = None):
        self.label, self.total, self.unit, self.interval = label, total, unit, interval
        self.stream, self.clock = stream, clock or time.monotonic
        self.done = 0
        self.started = self.last_line = self.clock()
        self.closed = False
        self.postfix = ""

    def _print(self, text: str) -> None:
        print(text, file=self.stream if self.stream is not None else sys.stderr, flush=True)

    def line(self) -> str:
        """The progress line for now."""
        elapsed = self.clock() - self.started
        if self.total:
            share = 100 * self.done / self.total
            text = f"{self.label}: {self.done}/{self.total} {self.unit} ({share:.0f} %)"
        else:
            text = f"{self.label}: {self.done} {self.unit}"
        text += f", {format_rate(self.done, elapsed, self.unit)}, {elapsed:.0f} s"
        if self.total and 0 < self.done < self.total:
            text += f", about {elapsed / self.done * (self.total - self.done):.0f} s left"
        return f"{text}, {self.postfix}" if self.postfix else text

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        """What the next lines end with (the loss, the last val figure), as tqdm's bar shows it."""
        self.postfix = text

    def update(self, n: int = 1) -> None:
        """``n`` more done; a line when the interval has passed."""
        self.set(self.done + n)

    def set(self, done: int) -> None:
        """``done`` in all; a line when the interval has passed."""
        self.done = done
        now = self.clock()
        if now - self.last_line >= self.interval:
            self.last_line = now
            self._print(self.line())

    def close(self) -> None:
        """The summary line: how many, in how long, at what rate."""
        if self.closed:
            return
        self.closed = True
        elapsed = self.clock() - self.started
        self._print(f"{self.label}: {self.done} {self.unit} in {elapsed:.1f} s "
                    f"({format_rate(self.done, elapsed, self.unit)})")


def progress_of(label: str, total: int | None, unit: str = "items", enabled: bool = True):
    """A bar on a terminal, ``ProgressLines`` elsewhere, nothing when not ``enabled``; each has
    ``update(n)`` and ``close()``."""
    from tqdm import tqdm

    if not enabled:
        return tqdm(total=total, disable=True)
    if is_terminal():
        return tqdm(total=total, desc=label, unit=unit.rstrip("s"))
    return ProgressLines(label, total, unit)
