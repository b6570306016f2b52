"""Synthesis speed per process at 256² and 512², worlds 1 and 2 side by side, by stage, with
references side by side.

References, run in the same process on the same scenes:
* forward model: a direct loop over energy bins (exp per bin, accumulated), the textbook form;
* npz writing: numpy's own ``np.savez_compressed`` against our byte-exact encoder.
Run: .venv/bin/python benchmarks/synth_speed.py [--n 40]
"""

from __future__ import annotations

import argparse
import io
import platform
import time

import numpy as np

from scans.npz import encode_npz
from scans.phantoms.scene import compose_scene
from scans.physics import DetectorNoise, effective_z, render_pseudo_colour, transmissions
from scans.physics.forward import all_materials, attenuation_matrix
from scans.physics.spectrum import ScannerModel, detector_response
from scans.preview import png_bytes
from scans.synth import SynthConfig, synth_scan


def reference_transmissions(areal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The forward model written as a loop over energy bins."""
    mu = attenuation_matrix(all_materials(), ScannerModel())
    weights = detector_response().weights
    low = np.zeros(areal.shape[1:], dtype=np.float64)
    high = np.zeros_like(low)
    for e in range(mu.shape[1]):
        depth = np.tensordot(mu[:, e], areal, axes=1)
        att = np.exp(-depth)
        low += weights[e, 0] * att
        high += weights[e, 1] * att
    return low.astype(np.float32), high.astype(np.float32)


def stage_times(size: int, n: int, world: int) -> dict[str, float]:
    """Mean seconds per scan of each stage of synthesis."""
    totals = dict.fromkeys(["scene", "physics", "noise", "zeff", "colour", "npz", "png"], 0.0)
    for i in range(n):
        rng = np.random.default_rng([1, i])
        t0 = time.perf_counter()
        scene = compose_scene(rng, size, size, world=world)
        t1 = time.perf_counter()
        low, high = transmissions(scene.areal_density)
        t2 = time.perf_counter()
        low, high = DetectorNoise().apply(low, high, rng)
        t3 = time.perf_counter()
        zeff, _ = effective_z(high, low, smooth_sigma=1.0)
        t4 = time.perf_counter()
        pseudo = render_pseudo_colour(zeff, high)
        t5 = time.perf_counter()
        encode_npz({"high": high, "low": low, "zeff": zeff, "pseudo": pseudo,
                    "objects": scene.objects, "parts": scene.parts, "anomaly": scene.anomaly})
        t6 = time.perf_counter()
        png_bytes(pseudo)
        t7 = time.perf_counter()
        for key, dt in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6),
                           strict=True):
            totals[key] += dt
    return {k: v / n for k, v in totals.items()}


def end_to_end(size: int, n: int, world: int) -> float:
    """Scans per second of synth_scan + encoding + preview, one process."""
    config = SynthConfig(size=size, seed=2, world=world)
    start = time.perf_counter()
    for i in range(n):
        scan = synth_scan(config, i)
        encode_npz(scan.arrays())
        png_bytes(scan.pseudo)
    return n / (time.perf_counter() - start)


def side_by_side(size: int, n: int) -> dict[str, float]:
    """Our forward model and encoder against the references on the same data."""
    scenes = [compose_scene(np.random.default_rng([3, i]), size, size) for i in range(n)]
    ours = ref = 0.0
    for scene in scenes:
        t0 = time.perf_counter()
        a = transmissions(scene.areal_density)
        t1 = time.perf_counter()
        b = reference_transmissions(scene.areal_density)
        t2 = time.perf_counter()
        ours, ref = ours + t1 - t0, ref + t2 - t1
        np.testing.assert_allclose(a[1], b[1], rtol=1e-4, atol=1e-6)
    scan = synth_scan(SynthConfig(size=size), 0)
    arrays = scan.arrays()
    t0 = time.perf_counter()
    for _ in range(n):
        encode_npz(arrays)
    t1 = time.perf_counter()
    for _ in range(n):
        np.savez_compressed(io.BytesIO(), **arrays)
    t2 = time.perf_counter()
    ours_size = len(encode_npz(arrays))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return {"forward_ms": 1e3 * ours / n, "forward_ref_ms": 1e3 * ref / n,
            "npz_ms": 1e3 * (t1 - t0) / n, "npz_ref_ms": 1e3 * (t2 - t1) / n,
            "npz_kb": ours_size / 1024, "npz_ref_kb": len(buffer.getvalue()) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="scans per measurement")
    args = parser.parse_args()
    synth_scan(SynthConfig(size=64), 0)  # warm caches: spectrum, attenuation, calibration
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"1 process")
    for size in (256, 512):
        n = args.n if size == 256 else max(4, args.n // 4)
        for world in (1, 2):  # interleaved, the same n each
            rate = end_to_end(size, n, world)
            stages = stage_times(size, n, world)
            print(f"\n{size}², world {world}: {rate:.1f} scans/s per process (goal at 256²: ≥ 10)")
            print("  per stage (ms): " + ", ".join(f"{k} {1e3 * v:.1f}" for k, v in stages.items()))
        ref = side_by_side(size, max(4, n // 4))
        print(f"  forward model: {ref['forward_ms']:.1f} ms vs energy loop {ref['forward_ref_ms']:.1f} ms"
              f" (ratio ours/ref {ref['forward_ms'] / ref['forward_ref_ms']:.2f})")
        print(f"  npz: {ref['npz_ms']:.1f} ms, {ref['npz_kb']:.0f} KiB vs np.savez_compressed "
              f"{ref['npz_ref_ms']:.1f} ms, {ref['npz_ref_kb']:.0f} KiB "
              f"(time ratio {ref['npz_ms'] / ref['npz_ref_ms']:.2f})")


if __name__ == "__main__":
    main()
