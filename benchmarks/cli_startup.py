"""`dualscan` start-up: help and a tiny synth in fresh interpreters, against the same CLI at the
revision before commands imported lazily (its parser imported every command's module, and with them
torch, torchvision and Ray). Run from the repository's git checkout."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.reference import REPO, checkout_at
from jobs.commands import COMMANDS

REFERENCE = "dc464af"  # the last revision with the eager parser
CLI = "import sys\nfrom jobs.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"


def median_s(checkout: str, argv: list[str], repeats: int) -> float:
    """Median wall time of a fresh interpreter running ``checkout``'s CLI with ``argv``."""
    times = []
    env = {**os.environ, "PYTHONPATH": checkout}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(repeats):
            args = [a.replace("{out}", f"{tmp}/{run}") for a in argv]
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", CLI, *args], check=True, capture_output=True, cwd=checkout,
                           env=env)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", default=REFERENCE, help="git revision of the eager CLI")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with checkout_at(args.reference) as old:
        commands = [name for name in COMMANDS if name in _commands_at(old)]
        cases = [["--help"], *([name, "--help"] for name in commands),
                 ["synth", "--out", "{out}", "--n", "2", "--size", "64", "--workers", "1", "--quiet"]]
        print(f"median of {args.repeats} fresh interpreters each, seconds; reference {args.reference}\n")
        print("| command | now | before (eager parser) | now / before |\n|---|---|---|---|")
        for argv in cases:
            shown = " ".join(argv) if "--help" in argv else "synth --n 2 --size 64 --workers 1"
            now, before = median_s(REPO, argv, args.repeats), median_s(old, argv, args.repeats)
            print(f"| `dualscan {shown}` | {now:.2f} | {before:.2f} | {now / before:.2f} |", flush=True)


def _commands_at(checkout: str) -> set[str]:
    """The command names a checkout's CLI has (the reference has fewer)."""
    code = "from jobs.cli import COMMANDS\nprint(' '.join(COMMANDS))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=checkout, env={**os.environ, "PYTHONPATH": checkout}).stdout
    return set(out.split())


if __name__ == "__main__":
    main()
