"""Fault drills for scoring jobs: a scorer whose worker process dies once, at its first batch; one
whose model fails on chosen scans."""

from __future__ import annotations

import os

import torch

from jobs.scoring.batches import Scorer


def dying_scorer(marker: str) -> type[Scorer]:
    """A Scorer whose first batch kills its worker process, once (``marker`` records it): Ray must
    retry the batch on another actor. Defined in a function, so Ray pickles the class by value."""

    class DyingScorer(Scorer):
        def __call__(self, batch):
            if not os.path.exists(marker):
                with open(marker, "w", encoding="utf-8") as f:
                    f.write(str(os.getpid()))
                os._exit(1)
            return super().__call__(batch)

    return DyingScorer


def failing_scorer(fails: set[str], out_of_memory: set[str], log: str | None = None) -> type[Scorer]:
    """A Scorer whose model, like a GPU out of memory, raises on a batch of several scans holding
    one of ``out_of_memory`` (alone it fits), and otherwise raises on a batch holding a scan of
    ``fails`` (alone too: the scan cannot be scored). Each drilled error appends a line to ``log``
    ("out_of_memory a,b" or "failed b"), so a test can see that its drill fired. Defined in a
    function, so Ray pickles the class by value."""

    def record(what: str, scan_ids: list[str]) -> None:
        if log is not None:
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"{what} {','.join(scan_ids)}\n")

    class FailingScorer(Scorer):
        def predict(self, images, scan_ids):
            if len(scan_ids) > 1 and out_of_memory & set(scan_ids):
                record("out_of_memory", scan_ids)
                raise torch.OutOfMemoryError("drilled: tried to allocate 8 GiB")
            if fails & set(scan_ids):
                record("failed", scan_ids)
                raise RuntimeError("drilled model failure")
            return super().predict(images, scan_ids)

    return FailingScorer
