"""Connectivity enforcement on the CPU: the per-image numpy pass against the batched torch pass that
GPUs run, on SSN's hard labels of random images, one thread."""

from __future__ import annotations

import time

import numpy as np
import torch

from models.ssn import SSN
from models.ssn.connectivity import enforce_connectivity, enforce_connectivity_batch, min_region_size


def mean_ms(fn, *args, repeats: int = 3) -> float:
    fn(*args)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn(*args)
    return 1000 * (time.perf_counter() - start) / repeats


def per_image(hard: torch.Tensor, limit: int) -> list[np.ndarray]:
    return [enforce_connectivity(one, limit) for one in hard.numpy()]


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print("| batch | numpy, per image | torch, batched | torch / numpy |\n|---|---|---|---|")
    for size, k, batch in ((128, 100, 16), (256, 300, 8)):
        model = SSN(in_channels=3, n_superpixels=k).eval()
        with torch.no_grad():
            assoc = model(torch.rand(batch, 3, size, size))
        hard, grid = assoc.hard_labels(), assoc.grid
        limit = min_region_size(grid.height, grid.width, grid.n_cells)
        reference = np.stack([enforce_connectivity(one, limit) for one in hard.numpy()])
        assert np.array_equal(enforce_connectivity_batch(hard, limit).numpy(), reference)
        numpy_ms = mean_ms(per_image, hard, limit)
        torch_ms = mean_ms(enforce_connectivity_batch, hard, limit)
        ratio = torch_ms / numpy_ms
        print(f"| {batch} × {size}², K {k} | {numpy_ms:.0f} ms | {torch_ms:.0f} ms | {ratio:.1f}× slower |")


if __name__ == "__main__":
    main()
