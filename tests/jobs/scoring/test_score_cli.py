"""`dualscan score` and `dualscan report-summary` from the command line (on the session's Ray)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from PIL import Image

from jobs.cli import main

pytestmark = pytest.mark.slow


def test_score_then_summarise(ray_session, bad_archive, model_dir, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["score", "--archive", bad_archive, "--model", model_dir, "--out", str(out),
                 "--batch-size", "4", "--no-progress", "--threshold", "0.3", "--max-pixels", "20000"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    counts = json.loads((out / "_SUCCESS").read_text())["counts"]
    assert f"{counts['files']} files, 4 ok, 10 error, {counts['anomalous']} anomalous" in line
    config = json.loads(pq.read_table(out / "scans").schema.metadata[b"dualscan.config"])
    assert config["read_limits"]["max_pixels"] == 20000 and config["max_pixels"] == 20000
    assert "scans/s" in line
    assert main(["report-summary", str(out), "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"14 files: 4 ok, 10 error, {counts['anomalous']} anomalous (threshold 0.300)")
    assert "score histogram" in text and "top scans:" in text
    errors = text.split("errors (first few):\n")[1].split("\n\n")[0].splitlines()
    assert len(errors) == 3 and all(f"{bad_archive}/scans/" in e for e in errors)
    assert sum(int(row.split()[1]) for row in text.splitlines() if row.startswith("  0.") and "–" in row) == 4
    assert Image.open(out / "summary.png").format == "PNG"


def test_score_errors_exit_2_with_the_reason(ray_session, small_archive, model_dir, tmp_path, capsys):
    assert main(["score", "--archive", small_archive, "--model", str(tmp_path), "--out",
                 str(tmp_path / "r")]) == 2
    assert "config.json does not exist" in capsys.readouterr().err
    assert main(["score", "--archive", str(tmp_path / "none"), "--model", model_dir, "--out",
                 str(tmp_path / "r")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["score", "--archive", small_archive, "--model", model_dir, "--out", str(tmp_path / "r"),
                 "--batch-size", "0"]) == 2
    assert "--batch-size: 0 is out of range" in capsys.readouterr().err
    assert main(["report-summary", str(tmp_path)]) == 2
    assert "not a finished DualScan report" in capsys.readouterr().err
