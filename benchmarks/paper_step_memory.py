"""paper.yaml's training step: peak memory of crop mode with sampled superpixels against all of them.

One training step of the paper's configuration (256² scans, K = 100, masked 224² crops through the
backbone, batch 64 as paper.yaml sets) on the CPU, each in a fresh process: forward, joint loss,
backward, optimiser step. Peak = the process's peak resident set (VmHWM, reset just before the
step) minus its resident set at that moment. ``crops_per_image`` is what training classifies per
image (every positive superpixel and sampled negatives); the reference classifies every
superpixel, as the step did before (about 100 crops per image). Both run at smaller batches than
paper.yaml's 64 and are scaled linearly to it (activations grow with the crops; this machine has
24 GiB); ``--batch 64`` measures the full step where it fits. The scaling also multiplies the
step's fixed part (gradients and momentum of the weights, about 1 GiB for vgg16_bn), so the scaled
figures are upper bounds, the every-superpixel ones (scaled ×64) the most.

Run: .venv/bin/python -m benchmarks.paper_step_memory [--backbones squeezenet1_1 resnet50 vgg16_bn]
     [--batch 16] [--reference-batch 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from benchmarks.peak_memory import peak_since, reset_peak
from study.config import load_config

PAPER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "study", "configs",
                     "paper.yaml")


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
    before, start = reset_peak(), time.perf_counter()
    out = model(images, anomaly=anomaly)
    loss = model.loss(out, parts, anomaly).total
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"peak_bytes": peak_since(before), "crops": int(out.logits.shape[0]),
            "superpixels": int(out.segments.n), "seconds": time.perf_counter() - start}


def measure(backbone: str, batch: int, crops_per_image: int | None) -> dict | None:
    """run_one in a fresh process; None when the step did not fit in memory (the kernel killed it)."""
    code = ("import json, sys; from benchmarks.paper_step_memory import run_one; "
            f"print(json.dumps(run_one({backbone!r}, {batch}, {crops_per_image!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode == -9:
        return None
    if out.returncode != 0:
        raise RuntimeError(f"{backbone} batch {batch}: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["squeezenet1_1", "resnet50", "vgg16_bn"])
    parser.add_argument("--batch", type=int, default=16,
                        help="images in the measured step (scaled linearly to paper.yaml's batch)")
    parser.add_argument("--reference-batch", type=int, default=1)
    args = parser.parse_args()
    study = load_config(PAPER, {"data.archive": "/unused"})
    paper_batch = study.space.batch_size[0]
    gib = 1024**3
    print(f"paper.yaml step at {study.data.image_size}², K {study.space.k[0]}, crops "
          f"{study.training.crop_size}², {os.cpu_count()} CPU threads, "
          f"peaks scaled to batch {paper_batch}\n")
    print(f"| backbone | sampled: batch | crops | peak GiB | s | at batch {paper_batch}, GiB | "
          f"every superpixel: batch | crops | peak GiB | at batch {paper_batch}, GiB | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for backbone in args.backbones:
        sampled = measure(backbone, args.batch, None)
        every = measure(backbone, args.reference_batch, 10_000)
        if sampled is None:
            print(f"| {backbone} | {args.batch} | — | killed: over this machine's memory | | | | | | | |")
            continue
        sampled_full = sampled["peak_bytes"] * paper_batch / args.batch
        row = (f"| {backbone} | {args.batch} | {sampled['crops']} | {sampled['peak_bytes'] / gib:.2f} | "
               f"{sampled['seconds']:.0f} | {sampled_full / gib:.1f} | {args.reference_batch} | ")
        if every is None:
            row += "— | killed: over this machine's memory | — | — |"
        else:
            every_full = every["peak_bytes"] * paper_batch / args.reference_batch
            row += (f"{every['crops']} | {every['peak_bytes'] / gib:.2f} | {every_full / gib:.0f} | "
                    f"{every_full / sampled_full:.0f}× |")
        print(row, flush=True)


if __name__ == "__main__":
    main()
