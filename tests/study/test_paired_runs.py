"""benchmarks.paired_runs: two runs compared on the same items, per split and kind."""

from __future__ import annotations

import sys

import numpy as np

from benchmarks import paired_runs
from study.evaluation import LevelScores, scores_npz


def _run(directory, scores: np.ndarray, labels: np.ndarray, kinds: np.ndarray, test_items: int) -> str:
    splits = {}
    for split, n in (("val", len(labels)), ("test", test_items)):
        level = LevelScores()
        level.add("object", labels[:n], scores[:n], kinds[:n])
        splits[split] = level
    directory.mkdir()
    (directory / "scores.npz").write_bytes(scores_npz(splits))
    return str(directory)


def test_paired_runs_prints_each_run_and_their_difference_and_skips_different_items(tmp_path, monkeypatch,
                                                                                   capsys):
    rng = np.random.default_rng(0)
    labels = np.arange(200) % 4 == 0
    kinds = np.where(labels, np.where(np.arange(200) % 8 == 0, "blade", "extra_screws"), "")
    good = labels + rng.normal(0, 0.6, 200)
    poor = labels + rng.normal(0, 2.0, 200)
    first = _run(tmp_path / "a", good, labels, kinds, test_items=200)
    second = _run(tmp_path / "b", poor, labels, kinds, test_items=150)  # found other test items
    monkeypatch.setattr(sys, "argv", ["paired_runs", first, second])
    paired_runs.main()
    out = capsys.readouterr().out.splitlines()
    val = next(line for line in out if line.startswith("val "))
    assert "val (200 items)" in val and "blade +" in val and "extra_screws +" in val
    difference = float(val.split("A − B ")[1].split(" ")[0])
    assert difference > 0.1  # the sharper scores win, and the interval lies above zero
    assert float(val.split("[")[1].split(",")[0]) > 0
    assert any(line.startswith("test: the runs judged different items (200 against 150)") for line in out)
