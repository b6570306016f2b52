"""The shipped demo detector: within 5 MB, its model card's sha256 true to every file, and loadable."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from jobs.scoring.model import load_scoring_model

DEMO_MODEL = Path(__file__).resolve().parents[2] / "demo" / "model"


def test_the_shipped_demo_model_matches_its_card_and_loads():
    card = (DEMO_MODEL / "model_card.md").read_text()
    rows = re.findall(r"^\| (\S+) \| (\d+) \| ([0-9a-f]{64}) \|$", card, flags=re.MULTILINE)
    files = sorted(p.relative_to(DEMO_MODEL).as_posix() for p in DEMO_MODEL.rglob("*")
                   if p.is_file() and p.name != "model_card.md")
    assert sorted(name for name, _, _ in rows) == files
    for name, size, digest in rows:
        data = (DEMO_MODEL / name).read_bytes()
        assert len(data) == int(size) and hashlib.sha256(data).hexdigest() == digest, name
    assert sum(int(size) for _, size, _ in rows) <= 5_000_000
    model = load_scoring_model(str(DEMO_MODEL), "cpu")
    assert model.pipeline == "subcomponent" and 0 < model.threshold < 1
