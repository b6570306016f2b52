"""The shipped smoke study config adapted to a test archive and a temporary storage directory."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def smoke(archive: str, storage: Path, name: str, **changes) -> dict:
    """study/configs/smoke.yaml on ``archive`` at 48², 2 epochs, stored under ``storage``; each
    keyword updates a section (a dict) or replaces a value."""
    with open(os.path.join(REPO, "study", "configs", "smoke.yaml"), encoding="utf-8") as f:
        data = yaml.safe_load(f)
    data.update(name=name, storage=str(storage))
    data["data"].update(archive=archive, image_size=48, max_scans=None, cache=str(storage / "cache"))
    data["space"]["epochs"] = 2
    for section, values in changes.items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    return data
