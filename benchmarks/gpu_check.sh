#!/usr/bin/env bash
# The checks that need a CUDA GPU, as one run of under 10 minutes on one GPU: the CUDA tests, the
# shipped quality detector's scoring throughput at 512² (scans per second per GPU), peak GPU memory
# of a paper.yaml trial (benchmarks/gpu_trial_memory.py) and the paper.yaml grid's rehearsal on the
# GPU (`dualscan study --smoke`). Every figure goes to OUT/figures.json, each step's log beside it.
# Needs DualScan installed (`make .venv/.installed`, or `pip install -e '.[dev]'` on the machine).
# Usage: benchmarks/gpu_check.sh [OUT]     PYTHON=path/to/python to pick the interpreter.
set -uo pipefail
OUT=${1:-out/gpu_check}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT"
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: no CUDA GPU')" || exit 2
now() { date +%s.%N; }

t0=$(now)  # 1. the tests that skip without a GPU
"$PY" -m pytest -q -rs tests/jobs/test_study_cli.py tests/models/ssn/test_model.py > "$OUT/tests.log" 2>&1
echo $? > "$OUT/tests.rc"
t1=$(now)  # 2. scoring: the shipped quality detector on 300 scans at 512², one GPU
"$PY" -m jobs.cli synth --out "$OUT/archive" --n 300 --size 512 --seed 2026 --no-previews > "$OUT/synth.log" 2>&1
t2=$(now)
"$PY" -m jobs.cli score --archive "$OUT/archive" --model detectors/quality --out "$OUT/report" --local \
    --gpus-per-worker 1 --no-progress > "$OUT/score.log" 2>&1
echo $? > "$OUT/score.rc"
t3=$(now)  # 3. peak GPU memory of the grid's heaviest paper.yaml trial, 100 steps
"$PY" -m benchmarks.gpu_trial_memory --archive "$OUT/archive" --steps 100 --out "$OUT/trial.json" \
    > "$OUT/trial.log" 2>&1
t4=$(now)  # 4. the paper.yaml grid's rehearsal: 30 trials and the Mask R-CNN stage on the GPU
"$PY" -m jobs.cli study --config study/configs/paper.yaml --local --smoke --data "$OUT/archive" \
    --storage "$(cd "$OUT" && pwd)/runs" --overwrite > "$OUT/grid.log" 2>&1
echo $? > "$OUT/grid.rc"
t5=$(now)

"$PY" - "$OUT" "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" <<'PYEOF'
import json, os, sys
import torch
out, t = sys.argv[1], [float(v) for v in sys.argv[2:]]
def text(name):
    path = os.path.join(out, name)
    return open(path, encoding="utf-8").read().strip() if os.path.exists(path) else None
tail = (text("tests.log") or "").splitlines()
trial = json.loads(text("trial.json")) if text("trial.json") else None
figures = {
    "device": torch.cuda.get_device_name(), "torch": torch.__version__,
    "tests": {"rc": int(text("tests.rc")), "summary": tail[-1] if tail else None, "seconds": round(t[1] - t[0], 1)},
    "scoring": {"rc": int(text("score.rc")), "scans": 300, "seconds": round(t[3] - t[2], 1),
                "scans_per_second_per_gpu": round(300 / (t[3] - t[2]), 2)},
    "paper_trial": trial, "paper_trial_seconds": round(t[4] - t[3], 1),
    "paper_grid_rehearsal": {"rc": int(text("grid.rc")), "seconds": round(t[5] - t[4], 1)},
    "total_seconds": round(t[5] - t[0], 1),
}
with open(os.path.join(out, "figures.json"), "w", encoding="utf-8") as f:
    json.dump(figures, f, indent=2)
print(json.dumps(figures, indent=2))
PYEOF
