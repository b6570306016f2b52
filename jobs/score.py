"""Entry point: batch scoring into a Parquet report (`dualscan score`, `python -m jobs.score`)."""

from __future__ import annotations

import argparse
import sys

from jobs.commands import finished, summary_of
from jobs.ray_connect import connect, refuse_relative_paths
from scans.schema import reason


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """Arguments of the scoring job."""
    parser = argparse.ArgumentParser(
        "dualscan score", add_help=add_help,
        description=summary_of("score"))
    parser.add_argument("--archive", required=True, help="archive v1 or a folder of .npz/PNG/TIFF")
    parser.add_argument("--model", required=True,
                        help="model directory (a study's RUN_DIR/best, `dualscan train --out`) or a shipped "
                             "detector's name (`dualscan models`: quality, demo; a folder so named: ./NAME)")
    parser.add_argument("--out", required=True, help="report directory (path or URI); an earlier report "
                                                     "there is replaced")
    parser.add_argument("--batch-size", type=int, default=16, help="scans per model batch (default 16)")
    parser.add_argument("--workers", type=int,
                        help="a fixed pool of N scoring actors, each loads the model once (default: an "
                             "autoscaling pool, see --min-workers and --max-workers)")
    parser.add_argument("--min-workers", type=int, default=1,
                        help="the autoscaling pool's least actors (default 1)")
    parser.add_argument("--max-workers", type=int,
                        help="the autoscaling pool's most actors (default: one per GPU, or without GPUs "
                             "one per CPU but one in eight, of the most the cluster's autoscaler may "
                             "bring up; on a cluster without an autoscaler, of what it has now)")
    parser.add_argument("--gpus-per-worker", type=float,
                        help="GPU share per actor, e.g. 0.5, 0 to score on CPUs (default: 1 on a cluster "
                             "with GPUs or an autoscaler that may start one, else 0)")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs per actor (default 1)")
    parser.add_argument("--worker-resource", action="append", default=[], metavar="NAME=AMOUNT",
                        help="a custom Ray resource each actor asks for (repeatable), e.g. scorer=1: the "
                             "actors run only on nodes started with `ray start --resources "
                             "'{\"scorer\": N}'`, N each")
    parser.add_argument("--threshold", type=float,
                        help="anomaly threshold in [0, 1] (default: the study's chosen one, else 0.5)")
    parser.add_argument("--overlays", type=int, default=0, metavar="N",
                        help="write PNG overlays of the N highest-scoring scans to REPORT/overlays/ and, for "
                             "item-first models, crops of the N highest-scoring flagged items to "
                             "REPORT/item_crops/")
    parser.add_argument("--torch-threads", type=int,
                        help="torch threads per actor (default on CPU: the cluster's CPUs / workers; "
                             "on GPU: the actor's CPU share)")
    parser.add_argument("--max-pixels", type=int, metavar="N",
                        help="refuse (as an error row) any image array of more than N pixels, read from "
                             "its header before it is decoded (default: DUALSCAN_MAX_PIXELS, else "
                             "8192 × 8192 = 67108864)")
    parser.add_argument("--raw-air", type=float, metavar="V",
                        help="raw X_high/X_low images: the value with nothing in the beam, transmission 1 "
                             "(default: the folder's raw_scale.json, else the bit depth's full scale)")
    parser.add_argument("--raw-dark", type=float, metavar="V",
                        help="raw images: the value with the beam off, transmission 0 (default 0)")
    parser.add_argument("--zeff-calibration", metavar="FILE",
                        help="the scanner's effective-Z calibration (docs/formats.md), to derive Z_eff from "
                             "raw high/low that carry none; `simulator` for scans the simulator made "
                             "(default: the folder's zeff_calibration.json, or the archive's own)")
    parser.add_argument("--no-progress", action="store_true", help="no Ray Data progress bars")
    parser.add_argument("--runtime", choices=("torch", "onnx"), default="torch",
                        help="what runs the model's networks: PyTorch, or ONNX Runtime from the files "
                             "`dualscan export-model MODEL OUT --onnx` writes (pip install 'dualscan[onnx]')")
    parser.add_argument("--local", action="store_true",
                        help="start Ray on this machine instead of joining RAY_ADDRESS / `ray job submit`")
    return parser


def summary_line(success: dict, out: str) -> str:
    """The one line printed when a job ends."""
    counts, timings = success["counts"], success["timings"]
    return (f"{out}: {counts['files']} files, {counts['ok']} ok, {counts['error']} error, "
            f"{counts['anomalous']} anomalous, {timings['scans_per_s']:.1f} scans/s "
            f"({timings['wall_s']:.1f} s)")


def worker_resources(pairs: list[str]) -> dict[str, float]:
    """``--worker-resource NAME=AMOUNT`` flags as a dict; a malformed one is a ValueError naming it."""
    resources = {}
    for pair in pairs:
        name, _, amount = pair.partition("=")
        try:
            resources[name.strip()] = float(amount)
        except ValueError:
            raise ValueError(f"--worker-resource {pair!r}: expected NAME=AMOUNT, e.g. scorer=1") from None
    return resources


def main(args: argparse.Namespace) -> int:
    from jobs.scoring.run import ScoreOptions, run_scoring
    from models.shipped import resolve_model

    args.model = resolve_model(args.model)  # a shipped detector's name: its directory
    try:
        options = ScoreOptions(archive=args.archive, model=args.model, out=args.out,
                               batch_size=args.batch_size, workers=args.workers,
                               min_workers=args.min_workers, max_workers=args.max_workers,
                               gpus_per_worker=args.gpus_per_worker, cpus_per_worker=args.cpus_per_worker,
                               worker_resources=worker_resources(args.worker_resource),
                               threshold=args.threshold, overlays=args.overlays,
                               torch_threads=args.torch_threads, progress=not args.no_progress,
                               max_pixels=args.max_pixels, raw_air=args.raw_air, raw_dark=args.raw_dark,
                               zeff_calibration=args.zeff_calibration, runtime=args.runtime)
        refuse_relative_paths({"--archive": args.archive, "--out": args.out, "--model": args.model})
        connect(args.local)
        success = run_scoring(options)
    except (OSError, ValueError, RuntimeError) as err:
        print(f"dualscan score: {reason(err)}", file=sys.stderr)
        return 2
    print(summary_line(success, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(finished(main(get_args_parser().parse_args())))
