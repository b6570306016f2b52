"""End-to-end seconds per scan of an item-first model on this machine: the model as shipped against
the same model with plain SLIC superpixels (its SSN on pixel features, nothing learned).

Per scan (what `dualscan score` runs on each scan, less Parquet): read and decode to the model's
and the finder's inputs, find the items, score every item's superpixels. Both variants score the
same scans in one process at the same threads, interleaved scan by scan, each scan ``--repeats``
times (the median); the table gives each variant's median over scans, the finder's share, and the
ratio to the shipped model. The plain-SLIC twin takes the shipped model's weights except its SSN's
(which it has none of): its speed is what counts here, not its scores. A model whose superpixels are
plain SLIC already (quality.yaml's since issue 41) is its own twin and is timed alone.

Run: .venv/bin/python -m benchmarks.scan_latency --model MODEL_DIR --archive ARCHIVE
         [--split test] [--scans 20] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import time

import torch

from models.items.scan import score_scan
from models.trained import TrainedModel, load_trained_model
from scans.archive import Archive
from scans.modalities import build_input
from study.pipelines import PIPELINES


def plain_slic_twin(trained: TrainedModel) -> torch.nn.Module:
    """The shipped model rebuilt with pixel-feature SSN superpixels, every other weight its own."""
    spec = dataclasses.replace(trained.spec, ssn_feature="pixel")
    twin = PIPELINES[spec.pipeline].build(spec)
    own = {k: v for k, v in trained.model.state_dict().items() if not k.startswith("ssn.")}
    missing, unexpected = twin.load_state_dict(own, strict=False)
    if unexpected or any(not k.startswith("ssn.") for k in missing):
        raise ValueError(f"the plain-SLIC twin does not take the model's weights: {missing} {unexpected}")
    return twin.eval()


def decoded(trained: TrainedModel, archive: Archive, scan_id: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One scan read and decoded to the model's and the finder's inputs."""
    scan = archive.read(scan_id)
    return (torch.from_numpy(build_input(scan, trained.modality)),
            torch.from_numpy(build_input(scan, trained.finder_modality)))


@torch.no_grad()
def timed_scan(trained: TrainedModel, model: torch.nn.Module, archive: Archive, scan_id: str) -> float:
    """Seconds for one scan end to end."""
    start = time.perf_counter()
    image, finder_image = decoded(trained, archive, scan_id)
    score_scan(trained.finder, model, image, finder_image, trained.item_score)
    return time.perf_counter() - start


@torch.no_grad()
def finding_seconds(trained: TrainedModel, archive: Archive, scan_id: str) -> float:
    """Seconds the finder alone takes on one decoded scan (its share of the end-to-end time)."""
    finder_image = decoded(trained, archive, scan_id)[1]
    start = time.perf_counter()
    trained.finder.find(finder_image[None])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="an item-first model directory")
    parser.add_argument("--archive", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--scans", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    trained = load_trained_model(args.model, "cpu")
    if not trained.item_first:
        raise SystemExit(f"{args.model}: an item-first model is needed (this one is {trained.pipeline})")
    archive = Archive(args.archive)
    ids = archive.ids_in_split(args.split)[:args.scans]
    variants = {"as shipped": trained.model}
    if trained.spec.ssn_feature != "pixel":  # else the twin is the model itself: nothing to compare
        variants["plain SLIC"] = plain_slic_twin(trained)
    for model in variants.values():  # warm-up: first calls allocate
        timed_scan(trained, model, archive, ids[0])
    totals: dict[str, list[float]] = {name: [] for name in variants}
    for scan_id in ids:
        for name, model in variants.items():
            totals[name].append(statistics.median(timed_scan(trained, model, archive, scan_id)
                                                  for _ in range(args.repeats)))
    finds = [finding_seconds(trained, archive, scan_id) for scan_id in ids]
    base = statistics.median(totals["as shipped"])
    print(f"{args.model} ({trained.spec.ssn_feature} SSN, K {trained.spec.k}) on {len(ids)} {args.split} "
          f"scans of {args.archive}, {args.threads} threads, {platform.processor() or platform.machine()}; "
          f"median of {args.repeats} a scan, finding alone {statistics.median(finds):.3f} s")
    print("| superpixels | s per scan (median over scans) | ratio to as shipped |")
    print("|---|---|---|")
    for name, values in totals.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
