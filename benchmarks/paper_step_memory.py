"""paper.yaml's training step: peak memory of crop mode with sampled superpixels against all of them.

One training step of the paper's configuration (256² scans, K = 100, masked 224² crops through the
backbone, batch 64 as paper.yaml sets) on the CPU, each in a fresh process: forward, joint loss,
backward, optimiser step. Peak = the process's peak resident set (VmHWM, reset just before the
step) minus its resident set at that moment. ``crops_per_image`` is what training classifies per
image (every positive superpixel and sampled negatives); the reference classifies every
superpixel, as the step did before (about 100 crops per image), and is run at a smaller batch and
scaled linearly to 64 when the full batch cannot fit in this machine's memory.

Run: .venv/bin/python -m benchmarks.paper_step_memory [--backbones squeezenet1_1 resnet50 vgg16_bn]
     [--batch 64] [--reference-batch 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from study.config import load_config

PAPER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "study", "configs",
                     "paper.yaml")


def _status(field: str) -> int:
    """A /proc/self/status size in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def run_one(backbone: str, batch: int, crops_per_image: int | None) -> dict:
    """One paper.yaml training step in this process: peak bytes, crops classified, seconds."""
    import torch

    from scans.modalities import build_input
    from scans.synth import SynthConfig, synth_scan
    from study.pipelines import PIPELINES
    from study.train import trial_from_config

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    study = load_config(PAPER, {"data.archive": "/unused"})
    size = study.data.image_size
    cpi = study.training.crops_per_image if crops_per_image is None else crops_per_image
    trial = trial_from_config(study, {"pipeline": "ssn", "backbone": backbone, "modality": "pseudo",
                                      "k": study.space.k[0], "lam": study.space.lam[0],
                                      "ssn_feature": study.space.ssn_features[0], "mode": "crop",
                                      "optimizer": "sgd", "lr": 2e-4, "batch_size": batch})
    model = PIPELINES["ssn"].build(trial)
    model.crops_per_image = cpi
    model.train()
    scans = [synth_scan(SynthConfig(size=size, seed=5, anomaly_rate=1.0), i) for i in range(batch)]
    images = torch.stack([torch.from_numpy(build_input(s, "pseudo")) for s in scans])
    parts = torch.stack([torch.from_numpy(s.parts) for s in scans])
    anomaly = torch.stack([torch.from_numpy(s.anomaly) for s in scans])
    optimizer = torch.optim.SGD(model.parameters(), lr=2e-4, momentum=0.9)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident set
    before, start = _status("VmRSS"), time.perf_counter()
    out = model(images, anomaly=anomaly)
    loss = model.loss(out, parts, anomaly).total
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"peak_bytes": _status("VmHWM") - before, "crops": int(out.logits.shape[0]),
            "superpixels": int(out.segments.n), "seconds": time.perf_counter() - start}


def measure(backbone: str, batch: int, crops_per_image: int | None) -> dict:
    """run_one in a fresh process."""
    code = ("import json, sys; from benchmarks.paper_step_memory import run_one; "
            f"print(json.dumps(run_one({backbone!r}, {batch}, {crops_per_image!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["squeezenet1_1", "resnet50", "vgg16_bn"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--reference-batch", type=int, default=2)
    args = parser.parse_args()
    study = load_config(PAPER, {"data.archive": "/unused"})
    print(f"paper.yaml step at {study.data.image_size}², K {study.space.k[0]}, crops "
          f"{study.training.crop_size}², {os.cpu_count()} CPU threads\n")
    print("| backbone | batch | crops per image | crops in the step | peak GiB | s | every superpixel "
          f"(batch {args.reference_batch}, crops) | its peak GiB, scaled to batch {args.batch} | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for backbone in args.backbones:
        sampled = measure(backbone, args.batch, None)
        every = measure(backbone, args.reference_batch, 10_000)
        scaled = every["peak_bytes"] * args.batch / args.reference_batch
        gib = 1024**3
        print(f"| {backbone} | {args.batch} | {study.training.crops_per_image} | {sampled['crops']} | "
              f"{sampled['peak_bytes'] / gib:.2f} | {sampled['seconds']:.0f} | {every['crops']} | "
              f"{scaled / gib:.0f} (est.) | {scaled / sampled['peak_bytes']:.0f}× |", flush=True)


if __name__ == "__main__":
    main()
