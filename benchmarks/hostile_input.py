"""Hostile input: the memory a decompression bomb costs a reader, and a scoring job over mutated files.

1. The bomb: the issue's 1.6 MB .npz whose .npy header declares 20000 × 20000 float32 zeros, read
   by `read_scan_bytes` of the reference revision (which inflated every array before checking) and
   of this checkout, each in a fresh interpreter: the growth of peak RSS (VmHWM, reset after the
   imports) and the seconds until it is refused.
2. A scoring job (`python -m jobs.score --local` with the shipped demo model; every process it
   starts summed, RSS sampled every 0.2 s) over a folder of 1,000 mutated files (`tests/scans/
   hostile.py`: .npz, pseudo-colour PNG/TIFF and 16-bit raw pairs; bombs above the default limit)
   plus the 50 valid scans they were made from, against a job over 1,050 valid files (the 50
   repeated). Checks: 1,050 rows, every valid file `ok`, exit code 0; goal: peak ≤ 1.2×.

Run: .venv/bin/python -m benchmarks.hostile_input [--reference 2b7ad55] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter

import numpy as np
import pyarrow.parquet as pq

from benchmarks.scoring_throughput import peak_memory
from scans.archive import Archive
from scans.limits import ReadLimits
from scans.synth import SynthConfig, synthesise
from testkit.hostile import deflate_bomb, image_bytes, mutate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = "2b7ad55"  # the last revision whose reader inflated every array before any check
DEMO_MODEL = os.path.join(REPO, "demo", "model")
DEMO_SCANS = SynthConfig(n=50, size=256, seed=5, anomaly_scale=2.0, previews=False,
                         anomaly_kinds=("blade", "metal_plate", "organic_block", "wire_bundle"))
READ_BOMB = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from benchmarks.peak_memory import peak_since, reset_peak
from scans.archive import read_scan_bytes
data = open(sys.argv[2], "rb").read()
before = reset_peak()
start = time.perf_counter()
try:
    read_scan_bytes(data, sys.argv[2])
    outcome = "read"
except Exception as err:
    outcome = f"{type(err).__name__}: {str(err).split(': ', 1)[-1][:90]}"
print(json.dumps({"peak_mib": peak_since(before) / 2**20, "seconds": time.perf_counter() - start,
                  "outcome": outcome}))
"""


def read_bomb(checkout: str, bomb: str) -> dict:
    """Peak RSS growth, seconds and outcome of reading ``bomb`` with ``checkout``'s reader."""
    result = subprocess.run([sys.executable, "-c", READ_BOMB, checkout, bomb], check=True, text=True,
                            capture_output=True, cwd=checkout, env={**os.environ, "PYTHONPATH": checkout})
    return json.loads(result.stdout.strip().splitlines()[-1])


def bomb_table(reference: str, tmp: str) -> None:
    """Print the bomb's read by the reference revision's reader and by this checkout's."""
    bomb = os.path.join(tmp, "bomb.npz")
    with open(bomb, "wb") as f:
        f.write(deflate_bomb((20_000, 20_000)))
    old = os.path.join(tmp, "reference")
    subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", old, reference], check=True,
                   capture_output=True)
    try:
        rows = {"before (" + reference + ")": read_bomb(old, bomb), "now": read_bomb(REPO, bomb)}
    finally:
        subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", old], check=False)
    print(f"## the bomb: {os.path.getsize(bomb) / 1e6:.2f} MB .npz declaring 20000×20000 float32")
    print("| reader | peak RSS growth (MiB) | seconds | outcome |\n|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['peak_mib']:.0f} | {row['seconds']:.2f} | {row['outcome']} |", flush=True)


def hostile_folders(tmp: str, n_mutated: int, seed: int) -> tuple[str, str, list[str], Counter]:
    """(folder of valid + mutated files, folder of as many valid files, the valid files' ids in the
    first, mutation counts)."""
    archive_dir = os.path.join(tmp, "archive")
    synthesise(DEMO_SCANS, archive_dir, progress=False)
    archive = Archive(archive_dir)
    valid = {sid: archive.root.read_bytes(f"scans/{sid}.npz") for sid in archive.scan_ids}
    hostile, plain = os.path.join(tmp, "hostile"), os.path.join(tmp, "valid")
    os.makedirs(hostile)
    os.makedirs(plain)
    for sid, data in valid.items():
        with open(os.path.join(hostile, f"valid_{sid}.npz"), "wb") as f:
            f.write(data)
    total = len(valid) + n_mutated
    for index in range(total):
        sid = archive.scan_ids[index % len(valid)]
        with open(os.path.join(plain, f"copy{index:05d}_{sid}.npz"), "wb") as f:
            f.write(valid[sid])
    rng, mutations = np.random.default_rng(seed), Counter()
    limit = ReadLimits().max_pixels
    scans = [archive.read(sid) for sid in archive.scan_ids]
    for index in range(n_mutated):
        scan = scans[index % len(scans)]
        kind = ("npz", "npz", "image", "raw_pair")[index % 4]
        stem = os.path.join(hostile, f"mutant{index:05d}")
        if kind == "npz":
            name, data = mutate(valid[scan.scan_id], "npz", rng, limit)
            files = {f"{stem}.npz": data}
        elif kind == "image":
            format_ = ("PNG", "TIFF")[index % 8 // 4]
            name, data = mutate(image_bytes(scan.pseudo, format_), "image", rng, limit)
            files = {f"{stem}.{format_.lower()}": data}
        else:
            high, low = ((np.clip(v, 1 / 65535, 1) * 65535).astype(np.uint16) for v in (scan.high, scan.low))
            pair = [image_bytes(high, "PNG"), image_bytes(low, "PNG")]
            target = int(rng.integers(0, 2))
            name, pair[target] = mutate(pair[target], "image", rng, limit)
            files = {f"{stem}_high.png": pair[0], f"{stem}_low.png": pair[1]}
        mutations[f"{kind}:{name}"] += 1
        for path, data in files.items():
            with open(path, "wb") as f:
                f.write(data)
    return hostile, plain, [f"valid_{sid}" for sid in valid], mutations


def check_report(out: str, expected_rows: int, valid_ids: list[str]) -> Counter:
    """The report's rows: as many as inputs, every valid file ok; returns the status counts."""
    table = pq.read_table(os.path.join(out, "scans"), columns=["scan_id", "status", "error"]).to_pylist()
    assert len(table) == expected_rows, f"{out}: {len(table)} rows, expected {expected_rows}"
    status = {row["scan_id"]: row["status"] for row in table}
    bad = [sid for sid in valid_ids if status.get(sid) != "ok"]
    assert not bad, f"{out}: valid files not ok: {bad[:5]}"
    return Counter(row["status"] for row in table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default=REFERENCE)
    parser.add_argument("--mutated", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved jobs per folder; medians")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--skip", nargs="*", default=[], choices=["bomb", "scoring"])
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="dualscan-hostile-")
    try:
        if "bomb" not in args.skip:
            bomb_table(args.reference, tmp)
        if "scoring" not in args.skip:
            hostile, plain, valid_ids, mutations = hostile_folders(tmp, args.mutated, args.seed)
            rows = len(valid_ids) + args.mutated
            print(f"\n## scoring {rows} files: {args.mutated} mutated + {len(valid_ids)} valid, against "
                  f"{rows} valid (demo model, 256² scans, seed {args.seed})")
            print(f"mutations: {dict(sorted(mutations.items()))}")
            peaks: dict[str, list[float]] = {"valid": [], "hostile": []}
            walls: dict[str, list[float]] = {"valid": [], "hostile": []}
            for rep in range(args.repeats):
                for name, folder in (("valid", plain), ("hostile", hostile)):
                    out = os.path.join(tmp, f"report-{name}-{rep}")
                    # the raw pairs are the simulator's: Z_eff by its table, named as a user would
                    peak, wall = peak_memory(folder, DEMO_MODEL, out, "--zeff-calibration", "simulator")
                    statuses = check_report(out, rows, valid_ids if name == "hostile" else [])
                    assert name == "hostile" or statuses == {"ok": rows}, statuses
                    peaks[name].append(peak)
                    walls[name].append(wall)
                    print(f"{name} run {rep + 1}: peak {peak:.0f} MiB, {wall:.0f} s, rows {dict(statuses)}",
                          flush=True)
            print("| folder | peak RSS, all processes (MiB, median) | wall s (median) |\n|---|---|---|")
            for name in peaks:
                peak, wall = statistics.median(peaks[name]), statistics.median(walls[name])
                print(f"| {name} | {peak:.0f} | {wall:.0f} |")
            ratio = statistics.median(peaks["hostile"]) / statistics.median(peaks["valid"])
            print(f"hostile / valid peak: {ratio:.2f}× (goal ≤ 1.2×)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
