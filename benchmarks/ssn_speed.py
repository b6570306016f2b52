"""SSN inference (pixel features, 10 iterations, connectivity) against skimage's C SLIC.

Both run on the same synthetic pseudo-colour scans, interleaved, in one process; skimage gets
the same K, 10 iterations and connectivity enforcement. Ratio = SSN time / skimage time.

Run: .venv/bin/python -m benchmarks.ssn_speed [--size 512] [--scans 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from skimage.segmentation import slic

from models.ssn import SSN
from scans.modalities import build_input
from scans.synth import SynthConfig, synth_scan


def timed(fn, *args, **kwargs):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--scans", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--k", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    config = SynthConfig(n=args.scans, size=args.size, seed=11)
    images = [build_input(synth_scan(config, i), "pseudo") for i in range(args.scans)]
    print(f"{args.scans} synthetic pseudo-colour scans at {args.size}², torch threads "
          f"{torch.get_num_threads()}, {args.repeats} rounds, median per scan")
    print("| K | SSN ms | skimage slic ms | ratio | SSN segments | slic segments |")
    print("|---|---|---|---|---|---|")
    for k in args.k:
        model = SSN(in_channels=3, feature="pixel", n_superpixels=k, test_iters=10).eval()
        ours, theirs, n_ours, n_theirs = [], [], [], []
        with torch.inference_mode():
            model.superpixels(torch.from_numpy(images[0])[None])  # warm-up
            for _ in range(args.repeats):
                for image in images:
                    hwc = np.ascontiguousarray(image.transpose(1, 2, 0))
                    seconds, labels = timed(model.superpixels, torch.from_numpy(image)[None])
                    ours.append(seconds)
                    n_ours.append(int(labels.max()) + 1)
                    seconds, labels = timed(slic, hwc, n_segments=k, max_num_iter=10, channel_axis=-1,
                                            start_label=0, enforce_connectivity=True)
                    theirs.append(seconds)
                    n_theirs.append(int(labels.max()) + 1)
        a, b = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
        print(f"| {k} | {a:.0f} | {b:.0f} | **{a / b:.2f}** | {statistics.median(n_ours):.0f} | "
              f"{statistics.median(n_theirs):.0f} |")


if __name__ == "__main__":
    main()
