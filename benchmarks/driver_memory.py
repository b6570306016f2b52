"""A scoring job's driver: peak memory and wall time against the number of scans (small 64² scans),
now that the cluster's write tasks write the report and the driver only gathers manifests."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time


def rss_bytes() -> int:
    """This process's resident memory now."""
    with open("/proc/self/statm", encoding="utf-8") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """The highest RSS of this process while the block runs, sampled every 50 ms."""

    def __enter__(self):
        self.peak, self._stop = rss_bytes(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="a model directory (e.g. out/runs/smoke/best)")
    parser.add_argument("--scans", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--folders", type=int, nargs="*", default=[],
                        help="also score folders of this many .npz files, hard links to the scans of the "
                             "first archive under new names (many inputs without synthesising them)")
    parser.add_argument("--work", default=None, help="archives and reports here (default: a temp dir)")
    parser.add_argument("--out", default=None, help="JSON results here")
    args = parser.parse_args()
    import ray

    from jobs.scoring.run import ScoreOptions, run_scoring
    from scans.synth import SynthConfig, synthesise

    work = args.work or tempfile.mkdtemp(prefix="driver-memory-")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows, inputs = [], []
    for n in args.scans:
        archive = os.path.join(work, f"archive-{n}")
        if not os.path.exists(os.path.join(archive, "archive.json")):
            synthesise(SynthConfig(n=n, size=64, seed=n, split=1.0, val=0.0), archive, workers=2,
                       progress=False)
        inputs.append((n, archive))
    scans = os.path.join(inputs[0][1], "scans")
    sources = sorted(os.listdir(scans))
    for n in args.folders:
        folder = os.path.join(work, f"folder-{n}")
        if not os.path.exists(folder):
            os.makedirs(folder)
            for i in range(n):
                os.link(os.path.join(scans, sources[i % len(sources)]), os.path.join(folder, f"f{i:07d}.npz"))
        inputs.append((n, folder))
    for n, archive in inputs:
        start = rss_bytes()
        clock = time.perf_counter()
        with PeakRss() as peak:
            report = os.path.join(work, f"report-{os.path.basename(archive)}")
            success = run_scoring(ScoreOptions(archive=archive, model=args.model, out=report, batch_size=64,
                                               progress=False))
        rows.append({"input": os.path.basename(archive), "scans": n,
                     "wall_s": round(time.perf_counter() - clock, 1), "driver_rss_start": start,
                     "driver_rss_peak": peak.peak, "files": success["counts"]["files"],
                     "assemble_s": success["timings"]["assemble_s"]})
        print(json.dumps(rows[-1]), flush=True)
    if len(rows) > 1:
        print(f"driver peak RSS at {rows[-1]['scans']} / at {rows[0]['scans']}: "
              f"{rows[-1]['driver_rss_peak'] / rows[0]['driver_rss_peak']:.2f}×")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
