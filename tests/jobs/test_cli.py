"""The dualscan CLI: every registered command parses, synth/preview run end to end, and a command
imports only what it needs (no torch or Ray to print help, synthesise or preview)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from jobs.cli import build_parser, main
from jobs.commands import COMMANDS
from scans.archive import Archive
from tests.pictures import drawn_png


def test_every_command_has_help(capsys):
    for name, command in COMMANDS.items():
        with pytest.raises(SystemExit) as exit_info:
            build_parser(name).parse_args([name, "--help"])
        assert exit_info.value.code == 0
        assert command.summary.split("(")[0].strip() in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    listing = " ".join(capsys.readouterr().out.split())
    assert all(name in listing for name in COMMANDS)


HEAVY = ("torch", "torchvision", "ray", "segmentation_models_pytorch")


def _modules_after(code: str) -> set[str]:
    """The heavy packages a fresh interpreter has imported after running ``code``."""
    probe = f"import sys\n{code}\nprint('imported:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    (line,) = (line for line in result.stdout.splitlines() if line.startswith("imported:"))
    return set(filter(None, line.removeprefix("imported:").split(",")))


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_imports_neither_torch_nor_ray(command):
    argv = ["--help"] if command is None else [command, "--help"]
    code = f"from jobs.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    assert _modules_after(code) == set()


def test_synth_and_preview_run_without_torch_or_ray(tmp_path):
    out, sheet = tmp_path / "arch", tmp_path / "sheet.png"
    code = (f"from jobs.cli import main\n"
            f"assert main(['synth', '--out', {str(out)!r}, '--n', '2', '--size', '64', '--workers', '1', "
            f"'--quiet']) == 0\n"
            f"assert main(['preview', {str(out)!r}, '--out', {str(sheet)!r}, '--n', '2']) == 0")
    assert _modules_after(code) == set()
    assert len(Archive(str(out))) == 2 and sheet.stat().st_size > 0


def test_synth_with_contact_sheet(tmp_path, capsys):
    out = tmp_path / "arch"
    assert main(["synth", "--out", str(out), "--n", "3", "--size", "64", "--workers", "1",
                 "--quiet", "--preview"]) == 0
    printed = capsys.readouterr().out
    assert f"archive: {out}" in printed and "contact sheet:" in printed
    assert drawn_png((out / "contact_sheet.png").read_bytes(), min_side=64).width >= 3 * 64  # 3 scans
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
