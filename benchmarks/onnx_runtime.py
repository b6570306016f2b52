"""Scans per second of a model whose networks run in PyTorch against the same model's networks in
ONNX Runtime (`dualscan export-model MODEL OUT --onnx`), and how far their item scores part.

Both runtimes score the same scans in one process at the same threads (torch's and ONNX Runtime's
intra-op pools set alike), interleaved scan by scan, each scan ``--repeats`` times (the median):
what `dualscan score` runs on a decoded scan (find the items, score each item's superpixels, its
rule), less decoding and Parquet. The table gives each runtime's scans per second, the ratio, and
the largest difference of an item score between them.

Run: .venv/bin/python -m benchmarks.onnx_runtime --model EXPORTED_DIR --archive ARCHIVE
         [--split test] [--scans 20] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

from models.trained import load_trained_model
from scans.archive import Archive
from scans.modalities import build_input


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a model directory with onnx/ (export-model --onnx)")
    parser.add_argument("--archive", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--scans", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # ONNX Runtime's sessions take torch's count (OnnxNetwork)
    runtimes = {name: load_trained_model(args.model, "cpu", runtime=name) for name in ("torch", "onnx")}
    archive = Archive(args.archive)
    ids = archive.ids_in_split(args.split)[:args.scans]
    modality = runtimes["torch"].input_modality
    seconds: dict[str, list[float]] = {name: [] for name in runtimes}
    scores: dict[str, list[np.ndarray]] = {name: [] for name in runtimes}
    for scan_id in ids:
        image = build_input(archive.read(scan_id), modality)
        for name, trained in runtimes.items():
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                prediction = trained.predict([image])[0]
                times.append(time.perf_counter() - start)
            seconds[name].append(statistics.median(times))
            scores[name].append(np.asarray(prediction.item_scores, np.float64))
    rate = {name: len(ids) / sum(values) for name, values in seconds.items()}
    worst = max((float(np.abs(a - b).max()) for a, b in zip(scores["torch"], scores["onnx"], strict=True)
                 if len(a) and len(a) == len(b)), default=0.0)
    parted = sum(len(a) != len(b) for a, b in zip(scores["torch"], scores["onnx"], strict=True))
    print(f"{args.model} on {len(ids)} {args.split} scans of {args.archive}, {args.threads} threads, "
          f"median of {args.repeats} per scan, {platform.processor() or platform.machine()}")
    print("| runtime | scans/s | ratio to PyTorch |\n|---|---|---|")
    for name in runtimes:
        print(f"| {name} | {rate[name]:.2f} | {rate[name] / rate['torch']:.2f} |")
    print(f"largest item-score difference {worst:.2e}; scans whose item counts differ: {parted}")


if __name__ == "__main__":
    main()
