"""Sub-component model inference: ``pool`` against ``crop`` throughput, and end-to-end latency.

1. ResNet-50 at 256², K = 100: scans per second of the whole model (SSN + classifier) in each
   mode, side by side on the same scans; crop at the paper's 224² and at 64².
2. End-to-end latency of one 512² scan in ``pool`` mode with ResNet-50 (SSN pixel features,
   10 iterations, connectivity, backbone, superpixel pooling, head, scan score), K = 100 and 1000.

Run: .venv/bin/python -m benchmarks.subcomponent_speed [--scans 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from models.scores import scan_scores
from models.subcomponent import SubcomponentModel
from scans.modalities import build_input
from scans.synth import SynthConfig, synth_scan


def scans_at(size: int, n: int) -> list[torch.Tensor]:
    config = SynthConfig(n=n, size=size, seed=5)
    return [torch.from_numpy(build_input(synth_scan(config, i), "pseudo"))[None] for i in range(n)]


def per_scan_seconds(model: SubcomponentModel, images: list[torch.Tensor]) -> tuple[list[float], int]:
    """Seconds per scan and the median number of superpixels classified."""
    seconds, segments = [], []
    with torch.inference_mode():
        for image in images:
            start = time.perf_counter()
            out = model(image)
            scan_scores(out.probs, out.segments)
            seconds.append(time.perf_counter() - start)
            segments.append(out.segments.n)
    return seconds, int(statistics.median(segments))


def throughput(scans: int) -> None:
    images = scans_at(256, scans)
    print(f"\n1. ResNet-50, 256², K = 100, {scans} scans, inference, torch threads {torch.get_num_threads()}")
    print("| mode | crop | scans/s | ms per scan | superpixels | pool speed-up |")
    print("|---|---|---|---|---|---|")
    rows = [("pool", 224), ("crop", 64), ("crop", 224)]
    times = {}
    for mode, crop in rows:
        torch.manual_seed(0)
        model = SubcomponentModel(modality="pseudo", backbone="resnet50", mode=mode, n_superpixels=100,
                                  crop_size=crop, crop_batch=64).eval()
        per_scan_seconds(model, images[:1])  # warm-up
        seconds, n = per_scan_seconds(model, images)
        times[mode, crop] = statistics.median(seconds)
        speedup = "" if mode == "pool" else f"**{times[mode, crop] / times['pool', 224]:.1f}×**"
        crop_text = "—" if mode == "pool" else f"{crop}²"
        print(f"| {mode} | {crop_text} | {1 / times[mode, crop]:.2f} | {times[mode, crop] * 1e3:.0f} | "
              f"{n} | {speedup} |")


def latency(scans: int) -> None:
    images = scans_at(512, scans)
    print(f"\n2. End-to-end latency, pool, ResNet-50, 512², {scans} scans (median)")
    print("| K | ms per scan | SSN + connectivity ms | superpixels |")
    print("|---|---|---|---|")
    for k in (100, 1000):
        torch.manual_seed(0)
        model = SubcomponentModel(modality="pseudo", backbone="resnet50", mode="pool",
                                  n_superpixels=k).eval()
        per_scan_seconds(model, images[:1])
        seconds, n = per_scan_seconds(model, images)
        ssn = []
        with torch.inference_mode():
            for image in images:
                start = time.perf_counter()
                model.ssn.superpixels(image)
                ssn.append(time.perf_counter() - start)
        total, ssn_ms = statistics.median(seconds) * 1e3, statistics.median(ssn) * 1e3
        print(f"| {k} | **{total:.0f}** | {ssn_ms:.0f} | {n} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=3)
    args = parser.parse_args()
    throughput(args.scans)
    latency(args.scans)


if __name__ == "__main__":
    main()
