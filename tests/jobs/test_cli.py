"""The dualscan CLI: every registered command parses, and synth/preview/import run end to end."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from jobs.cli import COMMANDS, build_parser, main
from scans.archive import Archive


def test_every_command_has_help():
    parser = build_parser()
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([name, "--help"])
        assert exit_info.value.code == 0


def test_synth_with_contact_sheet(tmp_path, capsys):
    out = tmp_path / "arch"
    assert main(["synth", "--out", str(out), "--n", "3", "--size", "64", "--workers", "1",
                 "--quiet", "--preview"]) == 0
    printed = capsys.readouterr().out
    assert f"archive: {out}" in printed and "contact sheet:" in printed
    assert (out / "contact_sheet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(Archive(str(out))) == 3
    sheet = tmp_path / "sheet.png"
    assert main(["preview", str(out), "--out", str(sheet), "--n", "2"]) == 0
    assert sheet.stat().st_size > 10_000


def test_bad_arguments_are_reported(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "x"), "--anomaly-rate", "2"]) == 2
    assert "anomaly_rate=2.0 is out of range" in capsys.readouterr().err
    assert main(["preview", str(tmp_path), "--out", str(tmp_path / "p.png")]) == 2
    assert "archive.json: not found" in capsys.readouterr().err


def test_console_script_and_module_entry_points(tmp_path):
    bindir = os.path.dirname(sys.executable)
    result = subprocess.run([os.path.join(bindir, "dualscan"), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "synth" in result.stdout
    result = subprocess.run([sys.executable, "-m", "jobs.synth", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--anomaly-rate" in result.stdout
