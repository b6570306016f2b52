"""A scoring actor's start-up: importing the scoring module and loading the model (what every Ray
Data scorer actor does before its first batch), in fresh interpreters, against the same code at a
reference revision (before the model code moved out of the training package). Run from the
repository's git checkout."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from benchmarks.reference import REPO, checkout_at

REFERENCE = "07d03f1"  # the last revision where scoring loaded models through study.pipelines
PROBE = """
import json, sys, time
start = time.perf_counter()
try:
    from jobs.scoring.batches import Scorer
except ImportError:  # revisions before issue 39 named the module jobs.scoring.stages
    from jobs.scoring.stages import Scorer
imported = time.perf_counter()
Scorer(sys.argv[1], device="cpu", torch_threads=2)
loaded = time.perf_counter()
project = [m for m in sys.modules if m.split(".")[0] in ("scans", "models", "pages", "study", "jobs")]
study = sum(m.startswith("study") for m in project)
print(json.dumps({"import_s": imported - start, "load_s": loaded - imported, "total_s": loaded - start,
                  "project_modules": len(project), "study_modules": study}))
"""


def probe(checkout: str, model: str) -> dict:
    """One fresh interpreter running ``checkout``'s scorer on ``model``: its figures."""
    env = {**os.environ, "PYTHONPATH": checkout, "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", PROBE, os.path.abspath(model)], check=True,
                          capture_output=True, text=True, cwd=checkout, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(checkouts: list[str], model: str, repeats: int) -> list[dict]:
    """Each checkout's medians over ``repeats`` fresh interpreters, the checkouts taking turns."""
    runs = [[] for _ in checkouts]
    for _ in range(repeats):
        for figures, checkout in zip(runs, checkouts, strict=True):
            figures.append(probe(checkout, model))
    return [{key: statistics.median(run[key] for run in figures) for key in figures[0]} for figures in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", default=REFERENCE, help="git revision to compare against")
    parser.add_argument("--models", nargs="+", default=["demo/model", "detectors/quality"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with checkout_at(args.reference) as old:
        print(f"median of {args.repeats} fresh interpreters each, now and before taking turns; seconds; "
              f"reference {args.reference}\n")
        print("| model | figure | now | before | now / before |\n|---|---|---|---|---|")
        for model in args.models:
            now, before = measure([REPO, old], model, args.repeats)
            for key in ("import_s", "load_s", "total_s", "project_modules", "study_modules"):
                ratio = f"{now[key] / before[key]:.2f}" if before[key] else "—"
                shown = (lambda v: f"{v:.2f}") if key.endswith("_s") else (lambda v: f"{v:.0f}")
                print(f"| `{model}` | {key} | {shown(now[key])} | {shown(before[key])} | {ratio} |",
                      flush=True)


if __name__ == "__main__":
    main()
