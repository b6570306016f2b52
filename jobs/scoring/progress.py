"""A scoring job's progress off a terminal: write tasks count the scans they wrote into a tiny actor,
and the driver prints one line at most every 30 s from it, then a summary."""

from __future__ import annotations

import logging
import threading

import ray

from scans import progress
from scans.progress import ProgressLines


@ray.remote(num_cpus=0)
class ScanCounter:
    """How many scans the write tasks have written (retried attempts may count twice: progress only)."""

    def __init__(self):
        self.done = 0

    def add(self, n: int) -> None:
        self.done += n

    def get(self) -> int:
        return self.done


class ScoringProgress:
    """While the stream runs, a driver thread reads the counter every ``interval`` seconds and prints
    ``score: done/total scans (pct), rate, elapsed, eta``; ``close`` prints the summary line."""

    def __init__(self, total: int, interval: float | None = None):
        # Ray Data's own progress off a terminal is a block of lines every few seconds: off, quietly
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
        ray.data.DataContext.get_current().enable_progress_bars = False
        self.counter = ScanCounter.remote()
        self.lines = ProgressLines("score", total, "scans", interval=0)
        self.interval = progress.LINE_INTERVAL_S if interval is None else interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="scoring-progress", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.lines.set(min(ray.get(self.counter.get.remote(), timeout=10), self.lines.total))
            except (ray.exceptions.RayError, TimeoutError):
                continue

    def __enter__(self) -> ScoringProgress:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        if exc[0] is None:
            self.lines.done = self.lines.total
            self.lines.close()
        ray.kill(self.counter)
