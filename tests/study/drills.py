"""Fault drills for studies: a trial's after-epoch hook that raises, or asks its device for more
memory than any has (a real allocator failure). Pickled by value: Ray's workers need not import tests."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Literal

import ray.cloudpickle
import torch


class InjectedFaultError(RuntimeError):
    """Raised by a FaultDrill."""


@dataclass(frozen=True)
class FaultDrill:
    """After ``epoch`` epochs (and each later one) a trial raises (``raise``) or runs out of memory
    (``oom``). With ``marker`` it happens once (the retry resumes from the checkpoint); without,
    every time (the trial ends errored). ``when`` limits it to the points with these values."""

    epoch: int
    kind: Literal["raise", "oom"] = "raise"
    marker: str | None = None
    when: dict = field(default_factory=dict)

    def __call__(self, point: dict, epoch: int, device: torch.device) -> None:
        if epoch < self.epoch or any(point.get(k) != v for k, v in self.when.items()):
            return
        if self.marker is not None:
            if os.path.exists(self.marker):
                return
            with open(self.marker, "w", encoding="utf-8") as f:
                f.write("failed once\n")
        if self.kind == "oom":
            torch.empty(1 << 62, dtype=torch.uint8, device=device)  # 4 EiB: the allocator refuses
        raise InjectedFaultError(f"injected fault after epoch {epoch}"
                                 + (f" (marker {self.marker})" if self.marker else ""))


ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
