"""The shipped detectors (the demo's and the quality bar's): within their size, every model card's
sha256 true to its file, loadable, and the quality detector judges a fresh archive end to end."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from jobs.cli import main
from models.shipped import SHIPPED_DETECTORS, resolve_model
from models.trained import load_trained_model

ROOT = Path(__file__).resolve().parents[2]
DEMO_MODEL = ROOT / "demo" / "model"
QUALITY_MODEL = ROOT / "detectors" / "quality"
SHIPPED = {DEMO_MODEL: 5_000_000, QUALITY_MODEL: 30_000_000}  # bytes each may take


@pytest.mark.parametrize("model_dir", list(SHIPPED), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_shipped_model_matches_its_card_and_loads(model_dir: Path):
    card = (model_dir / "model_card.md").read_text()
    rows = re.findall(r"^\| (\S+) \| (\d+) \| ([0-9a-f]{64}) \|$", card, flags=re.MULTILINE)
    files = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*")
                   if p.is_file() and p.name != "model_card.md")
    assert sorted(name for name, _, _ in rows) == files
    for name, size, digest in rows:
        data = (model_dir / name).read_bytes()
        assert len(data) == int(size) and hashlib.sha256(data).hexdigest() == digest, name
    assert sum(int(size) for _, size, _ in rows) <= SHIPPED[model_dir]
    model = load_trained_model(str(model_dir), "cpu")
    assert model.pipeline == "subcomponent" and model.item_first and 0 < model.threshold < 1


@pytest.mark.parametrize("model_dir", list(SHIPPED), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_shipped_card_names_its_data_and_recipe_without_a_machines_path(model_dir: Path):
    card = (model_dir / "model_card.md").read_text() + (model_dir / "model_card.json").read_text()
    assert not re.search(r"(/work/|/home/|/tmp/|/Users/)", card)  # no training machine's path
    assert "* data: the archive the rebuild below makes" in card and "\nRebuild:\n" in card
    assert "recipe not recorded" not in card and "* training: SGD (momentum 0.9), lr " in card


def test_the_quality_card_says_how_it_was_made():
    card = (QUALITY_MODEL / "model_card.md").read_text()
    # the world it was trained in named: world 2 is the simulator's default now
    assert "dualscan synth --out ARCHIVE --n 3000 --size 512 --seed 2026 --world 1" in card
    assert "dualscan train --config study/configs/quality.yaml" in card
    assert "The whole training command" in card and "float16" in card


def test_the_quality_detector_judges_a_fresh_archive(tmp_path, capsys):
    """Six scans the detector never saw, at its own size and pitch, judged end to end."""
    archive = tmp_path / "archive"
    assert main(["synth", "--out", str(archive), "--n", "6", "--size", "512", "--seed", "11", "--world", "1",
                 "--split", "0", "--val", "0", "--no-previews"]) == 0  # all six in test, its world
    out = tmp_path / "evaluation.json"
    assert main(["evaluate", "--model", "quality", "--archive", str(archive), "--split", "test",
                 "--out", str(out)]) == 0  # the shipped detector by name
    assert "test: object AUROC " in capsys.readouterr().out
    evaluation = json.loads(out.read_text())
    weights = hashlib.sha256((QUALITY_MODEL / "model.pt").read_bytes()).hexdigest()
    assert evaluation["n_scans"] == 6 and evaluation["model_sha256"] == weights
    assert evaluation["n_found_items"] > 0 and evaluation["item_recall"] > 0.5


def test_the_demo_detector_still_finds_the_demo_anomalies(tmp_path, capsys):
    """Forty fresh scans made as `make demo` makes them (a seed its training never saw), judged end to
    end: the shipped demo model must rank anomalous items well above benign ones (chance is 0.5)."""
    archive = tmp_path / "archive"
    assert main(["synth", "--out", str(archive), "--n", "40", "--seed", "23", "--size", "256", "--world", "1",
                 "--anomaly-scale", "2", "--anomaly-kinds", "blade,metal_plate,organic_block,wire_bundle",
                 "--split", "0", "--val", "0", "--no-previews", "--quiet"]) == 0
    out = tmp_path / "evaluation.json"
    assert main(["evaluate", "--model", "demo", "--archive", str(archive), "--split", "test",
                 "--out", str(out)]) == 0  # the shipped detector by name
    capsys.readouterr()
    evaluation = json.loads(out.read_text())
    assert evaluation["n_scans"] == 40 and evaluation["item_recall"] > 0.8
    assert sum(evaluation["labels"]) >= 10  # enough anomalous items for the figure to mean something
    assert evaluation["object"]["auroc"]["value"] >= 0.75, evaluation["object"]["auroc"]  # 0.88 when written


def test_the_names_resolve_to_the_shipped_detectors_and_paths_still_work(tmp_path, monkeypatch):
    assert {name: Path(resolve_model(name)) for name in SHIPPED_DETECTORS} == {
        "quality": QUALITY_MODEL, "demo": DEMO_MODEL}
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quality").mkdir()  # a folder of that name here: the name wins, ./quality is the folder
    assert Path(resolve_model("quality")) == QUALITY_MODEL and resolve_model("./quality") == "./quality"
    assert resolve_model(str(DEMO_MODEL)) == str(DEMO_MODEL)
    assert resolve_model("s3://bucket/demo") == "s3://bucket/demo"
    assert resolve_model("nothing-here") == "nothing-here"  # the loader names what is missing


def test_models_lists_each_shipped_detector_with_its_cards_figures(capsys):
    assert main(["models", "--json"]) == 0
    listed = {row["name"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(listed) == set(SHIPPED_DETECTORS)
    for name, row in listed.items():
        card = json.loads((Path(resolve_model(name)) / "model_card.json").read_text())
        assert row["test_object_auroc"] == card["metrics"]["test_object_auroc"] and row["world"] == 1
        assert row["threshold"] == card["threshold"] and row["rebuild"] == card["rebuild"]
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "--model quality" in text and "object AUROC 0.851" in text
