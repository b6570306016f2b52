"""The superpixels themselves against the labels, per anomaly kind: SSN on pixel features (plain
SLIC) against SSN with learned features, at the same K per item.

Learned features (``--features``, default ``paper``: SSN_deep) are trained alone on tiles of the
archive's train items (half centred on anomalies) for ``--steps`` steps of l_rcon + λ·l_comp, the
reconstruction target being the sub-components with every anomaly a label of its own; one model
per λ of ``--lams``. Each is then run on the val split's true items (their crops unmasked, as
the detector's ``context`` and ``frame`` inputs show them), K per item as the detector asks, and
measured inside each item's mask:

* ASA: achievable segmentation accuracy of the reconstruction target (every superpixel given its
  majority label, the share of pixels right);
* anomaly ASA: the share of anomaly pixels inside superpixels that are mostly anomaly (what a
  perfect superpixel classifier at τ = 0.5 could flag);
* boundary recall: the share of anomaly outline pixels within 2 px of a superpixel boundary;
* compactness: l_comp of the final association (squared cell widths; lower is more compact).

Run: .venv/bin/python -m benchmarks.superpixel_quality --archive ARCHIVE [--train-scans 300]
         [--val-scans 100] [--k 300] [--steps 300] [--lams 1e-4 0.1] [--features paper]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
import torch
from scipy import ndimage

from models.ssn import SSN
from models.ssn.losses import compactness_loss, reconstruction_target
from models.ssn.model import connected_labels
from models.subcomponent.items import grid_size
from scans.archive import Archive
from scans.modalities import modality_air
from study.items.data import TRAIN_DTYPE, read_items
from study.items.tiles import TileSampler

BOUNDARY_PX = 2


def quality(labels: np.ndarray, target: np.ndarray, anomaly: np.ndarray,
            mask: np.ndarray) -> dict[str, float]:
    """ASA of ``target``, anomaly ASA and boundary recall of one item's (h, w) superpixel labels
    inside its ``mask`` (the last two NaN without anomaly pixels)."""
    lab, tgt, anom = labels[mask], target[mask], anomaly[mask]
    _, lab = np.unique(lab, return_inverse=True)
    _, tgt = np.unique(tgt, return_inverse=True)
    overlap = np.zeros((lab.max() + 1, tgt.max() + 1), np.int64)
    np.add.at(overlap, (lab, tgt), 1)
    out = {"asa": float(overlap.max(1).sum() / lab.size), "anomaly_asa": float("nan"),
           "boundary_recall": float("nan")}
    if anom.any():
        share = np.bincount(lab, anom, lab.max() + 1) / np.bincount(lab, minlength=lab.max() + 1)
        out["anomaly_asa"] = float((share[lab] > 0.5)[anom].mean())
        edges = np.zeros_like(labels, bool)
        edges[:, 1:] |= labels[:, 1:] != labels[:, :-1]
        edges[1:, :] |= labels[1:, :] != labels[:-1, :]
        near = ndimage.binary_dilation(edges, iterations=BOUNDARY_PX)
        outline = anomaly & ~ndimage.binary_erosion(anomaly) & mask
        if outline.any():
            out["boundary_recall"] = float(near[outline].mean())
    return out


def train_ssn(items, modality: str, feature: str, lam: float, k: int, steps: int, batch: int,
              seed: int) -> SSN:
    """SSN with ``feature`` trained alone on tiles of ``items`` by l_rcon + ``lam``·l_comp."""
    torch.manual_seed(seed)
    channels = items.image.shape[0]
    ssn = SSN(in_channels=channels, feature=feature, n_superpixels=k, compactness=lam)
    sampler = TileSampler(items, 96, modality_air(modality), seed)
    optimiser = torch.optim.Adam(ssn.parameters(), lr=1e-3)
    ssn.train()
    for step in range(steps):
        tiles, _ = sampler.sample(batch, positive=0.5, hard=0.0)
        target = reconstruction_target(tiles.parts, tiles.anomaly)
        losses = []
        for image, px, t in zip(tiles.images, tiles.item_px.tolist(), target, strict=True):
            n = grid_size(96, 96, px, k)
            losses.append(ssn.loss(ssn(image[None], n_superpixels=n), t[None]).total)
        loss = torch.stack(losses).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if (step + 1) % 50 == 0:
            print(f"  {feature} λ {lam:g}: step {step + 1}, loss {loss.item():.3f}", flush=True)
    return ssn.eval()


@torch.no_grad()
def measure(ssn: SSN, items, k: int) -> dict[str, dict[str, list[float]]]:
    """Every item's quality figures by kind (benign items under "benign")."""
    by_kind: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    px = items.item_px()
    for i in range(len(items)):
        crop = items.crop(i)
        h, w = crop.mask.shape
        assoc = ssn(crop.image[None], n_superpixels=grid_size(h, w, float(px[i]), k))
        labels = connected_labels(assoc)[0].numpy()
        target = reconstruction_target(crop.parts[None], crop.anomaly[None])[0].numpy()
        figures = quality(labels, target, crop.anomaly.numpy(), crop.mask.numpy())
        figures["compactness"] = float(compactness_loss(assoc))
        for kind in ("all", items.kind[i] or "benign"):
            for name, value in figures.items():
                by_kind[kind][name].append(value)
    return by_kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", required=True)
    parser.add_argument("--modality", default="hlz_log")
    parser.add_argument("--train-scans", type=int, default=300)
    parser.add_argument("--val-scans", type=int, default=100)
    parser.add_argument("--k", type=int, default=300, help="superpixels per item (quality.yaml: 300)")
    parser.add_argument("--features", default="paper")
    parser.add_argument("--lams", type=float, nargs="+", default=[1e-4, 0.1])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    archive = Archive(args.archive)
    train = read_items(archive, archive.ids_in_split("train")[: args.train_scans], args.modality,
                       dtype=TRAIN_DTYPE)
    val = read_items(archive, archive.ids_in_split("val")[: args.val_scans], args.modality)
    print(f"{len(train)} train items, {len(val)} val items; K {args.k} per item; torch threads "
          f"{torch.get_num_threads()}", flush=True)
    results = {}
    start = time.perf_counter()
    plain = SSN(in_channels=train.image.shape[0], feature="pixel").eval()
    results["pixel (SLIC)"] = measure(plain, val, args.k)
    print(f"pixel features measured ({time.perf_counter() - start:.0f} s)", flush=True)
    for lam in args.lams:
        start = time.perf_counter()
        ssn = train_ssn(train, args.modality, args.features, lam, args.k, args.steps, args.batch, args.seed)
        name = f"{args.features} λ {lam:g} ({args.steps} steps, {time.perf_counter() - start:.0f} s)"
        results[name] = measure(ssn, val, args.k)
    kinds = ["all", *sorted(k for k in results["pixel (SLIC)"] if k not in ("all", "benign")), "benign"]
    print("\n| superpixels | kind | items | ASA | anomaly ASA | boundary recall | compactness |")
    print("|---|---|---|---|---|---|---|")
    for name, by_kind in results.items():
        for kind in kinds:
            figures = by_kind.get(kind)
            if not figures:
                continue
            cells = [f"{np.nanmean(figures[m]):.3f}" if np.isfinite(figures[m]).any() else "—"
                     for m in ("asa", "anomaly_asa", "boundary_recall", "compactness")]
            print(f"| {name} | {kind} | {len(figures['asa'])} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
