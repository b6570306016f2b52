"""Drills for studies: a trial's after-epoch hook that raises, or asks its device for more memory than
any has (a real allocator failure), or stops at a rendezvous with the test. Pickled by value: Ray's
workers need not import tests."""

from __future__ import annotations

import os
import socket
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


@dataclass(frozen=True)
class SecondTrialRendezvous:
    """After the first epoch of the study's second trial, connect to the Unix socket ``address`` the
    test listens on and wait there until the test closes the connection (at most ``timeout``
    seconds). With one trial at a time, the first trial has then finished and the second has
    reported and checkpointed one epoch: the test acts at that moment, not after a guessed time.
    ``markers``: a directory where the trials note who came first and who met the test (once)."""

    address: str
    markers: str
    timeout: float = 300.0

    def __call__(self, point: dict, epoch: int, device: torch.device) -> None:
        if epoch != 1 or self._first_to_make("first-trial") or not self._first_to_make("rendezvous"):
            return  # not a first epoch, the first trial's, or a trial after the one that met the test
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(self.timeout)
            connection.connect(self.address)
            connection.recv(1)  # until the test closes it (b"") or the timeout passes

    def _first_to_make(self, name: str) -> bool:
        try:
            os.close(os.open(os.path.join(self.markers, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True


ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
