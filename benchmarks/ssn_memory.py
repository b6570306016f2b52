"""SSN training-step peak memory: block form against the dense (B, N, K) formulation.

Each configuration runs in a fresh process: pixel features with gradients, 5 differentiable SLIC
iterations, reconstruction + compactness loss, backward. Peak = the process's peak resident set
(VmHWM, reset just before the step) minus its resident set at that moment. Dense runs that would
not fit in memory are estimated from a least-squares fit to the dense runs that were measured,
and marked as estimates.

Run: .venv/bin/python -m benchmarks.ssn_memory [--dense-limit 7e7]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np

from benchmarks.peak_memory import peak_since, reset_peak

SIZES = (256, 512, 1024)
KS = (100, 1000)
ITERS = 5


def run_one(impl: str, size: int, k: int) -> int:
    """Peak bytes of one training step, measured in this process."""
    import torch

    from models.ssn.losses import compactness_loss, reconstruction_loss
    from models.ssn.slic import differentiable_slic, make_grid
    from testkit.dense_ssn import dense_losses, dense_slic

    torch.manual_seed(0)
    grid = make_grid(size, size, k)
    features = torch.rand(1, 5, size, size, requires_grad=True)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    target = ((ys // 64) * 16 + xs // 64)[None]  # 64×64-pixel regions
    before = reset_peak()
    if impl == "block":
        assoc = differentiable_slic(features, grid, ITERS)
        loss = reconstruction_loss(assoc, target) + 1e-4 * compactness_loss(assoc)
    else:
        soft, centres, _ = dense_slic(features, grid, ITERS)
        rcon, comp = dense_losses(soft, centres, features, target)
        loss = rcon + 1e-4 * comp
    loss.backward()
    return peak_since(before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dense-limit", type=float, default=7e7,
                        help="largest N·K the dense formulation is run at (beyond: estimated)")
    parser.add_argument("--one", nargs=3, metavar=("IMPL", "SIZE", "K"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), int(args.one[2]))))
        return
    results: dict[tuple[str, int, int], int] = {}
    for impl in ("block", "dense"):
        for size in SIZES:
            for k in KS:
                if impl == "dense" and size * size * k > args.dense_limit:
                    continue
                out = subprocess.run([sys.executable, "-m", "benchmarks.ssn_memory", "--one", impl,
                                      str(size), str(k)], capture_output=True, text=True, check=True)
                results[impl, size, k] = json.loads(out.stdout.strip().splitlines()[-1])
    dense = [(s * s, k, v) for (i, s, k), v in results.items() if i == "dense"]
    design = np.array([[n * k, n] for n, k, _ in dense], dtype=np.float64)
    coef, *_ = np.linalg.lstsq(design, np.array([v for *_, v in dense], dtype=np.float64), rcond=None)
    mib = 2 ** 20
    print(f"training step, pixel features (5 channels), {ITERS} iterations, loss + backward; MiB")
    print("| size | K | block | dense | dense / block | block K=1000 / K=100 |")
    print("|---|---|---|---|---|---|")
    for size in SIZES:
        for k in KS:
            block = results["block", size, k]
            if ("dense", size, k) in results:
                dense_bytes, mark = results["dense", size, k], ""
            else:
                dense_bytes, mark = coef[0] * size * size * k + coef[1] * size * size, " (est.)"
            growth = f"{block / results['block', size, 100]:.2f}" if k != 100 else ""
            print(f"| {size}² | {k} | {block / mib:.0f} | {dense_bytes / mib:.0f}{mark} | "
                  f"{dense_bytes / block:.0f}× | {growth} |")
    print(f"dense fit: {coef[0]:.1f} bytes per N·K + {coef[1]:.1f} bytes per pixel")


if __name__ == "__main__":
    main()
