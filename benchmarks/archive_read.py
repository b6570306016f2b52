"""Archive read speed: Archive.read (decode + validation) against plain np.load of the same files.

Run: .venv/bin/python benchmarks/archive_read.py [--n 200] [--size 256]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from scans.archive import Archive
from scans.synth import SynthConfig, synthesise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "archive")
        synthesise(SynthConfig(n=args.n, size=args.size, previews=False), root, progress=False)
        archive = Archive(root)
        paths = [os.path.join(root, r["file"]) for r in archive.manifest.to_pylist()]
        total_bytes = sum(os.path.getsize(p) for p in paths)
        for p in paths:  # page cache warm for both readers
            with open(p, "rb") as f:
                f.read()
        rounds = {"ours": 0.0, "np.load": 0.0}
        for _ in range(3):
            t0 = time.perf_counter()
            for scan_id in archive.scan_ids:
                archive.read(scan_id)
            t1 = time.perf_counter()
            for p in paths:
                with np.load(p, allow_pickle=False) as npz:
                    {k: npz[k] for k in npz.files}
            t2 = time.perf_counter()
            rounds["ours"] += t1 - t0
            rounds["np.load"] += t2 - t1
    n = 3 * args.n
    ours, ref = n / rounds["ours"], n / rounds["np.load"]
    mb = total_bytes * 3 / 1e6
    print(f"{args.n} scans at {args.size}², {total_bytes / args.n / 1024:.0f} KiB per file, 1 process")
    print(f"Archive.read: {ours:.0f} scans/s, {mb / rounds['ours']:.0f} MB/s")
    print(f"np.load:      {ref:.0f} scans/s, {mb / rounds['np.load']:.0f} MB/s")
    print(f"ratio ours/np.load throughput: {ours / ref:.2f}")


if __name__ == "__main__":
    main()
