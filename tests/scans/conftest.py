"""The readers' tests' fixture: reads measured in a process of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.hostile import IsolatedMeasure


@pytest.fixture(scope="session")
def measure_alone() -> Iterator[IsolatedMeasure]:
    """measure() in a spawned process that does nothing else: the peak resident memory of the
    test process is every test's and every thread's (Ray's among them), a read's own is not."""
    with IsolatedMeasure() as measure:
        yield measure
