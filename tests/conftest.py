"""Shared fixtures: one small synthetic archive per test session."""

from __future__ import annotations

import pytest

from scans.synth import SynthConfig, synthesise

SMALL = SynthConfig(n=6, size=96, seed=3, split=0.5, val=0.0)


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory) -> str:
    """A 6-scan archive at 96² written once per session."""
    out = tmp_path_factory.mktemp("archive") / "small"
    synthesise(SMALL, str(out), workers=1, progress=False)
    return str(out)
