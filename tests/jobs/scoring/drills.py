"""Fault drills for scoring jobs: a scorer whose worker process dies once, at its first batch."""

from __future__ import annotations

import os

from jobs.scoring.stages import Scorer


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
