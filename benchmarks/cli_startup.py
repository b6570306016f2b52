"""`dualscan` start-up: help and a tiny synth in fresh interpreters, against the eager parser that
imported every command's module (and with them torch, torchvision and Ray) before parsing."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time

from jobs.commands import COMMANDS

# the parser as it was built before commands imported lazily: every module, then the subparsers
EAGER = """
import argparse, importlib, sys
from jobs.commands import COMMANDS
parser = argparse.ArgumentParser(prog="dualscan")
sub = parser.add_subparsers(dest="command", required=True)
for name, entry in COMMANDS.items():
    template = importlib.import_module(entry.module).get_args_parser(add_help=False)
    sub.add_parser(name, parents=[template])
try:
    args = parser.parse_args(sys.argv[1:])
except SystemExit:
    sys.exit(0)
importlib.import_module(COMMANDS[args.command].module).main(args)
"""
LAZY = "import sys\nfrom jobs.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"


def median_s(code: str, argv: list[str], repeats: int) -> float:
    """Median wall time of a fresh interpreter running ``code`` with ``argv``."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(repeats):
            args = [a.replace("{out}", f"{tmp}/{run}") for a in argv]
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(repeats: int = 3) -> None:
    cases = [["--help"]] + [[name, "--help"] for name in COMMANDS]
    cases.append(["synth", "--out", "{out}", "--n", "2", "--size", "64", "--workers", "1", "--quiet"])
    print(f"median of {repeats} fresh interpreters each, seconds\n")
    print("| command | lazy (now) | eager (before) | lazy / eager |\n|---|---|---|---|")
    for argv in cases:
        shown = " ".join(argv) if "--help" in argv else "synth --n 2 --size 64 --workers 1"
        lazy, eager = median_s(LAZY, argv, repeats), median_s(EAGER, argv, repeats)
        print(f"| `dualscan {shown}` | {lazy:.2f} | {eager:.2f} | {lazy / eager:.2f} |")


if __name__ == "__main__":
    main()
