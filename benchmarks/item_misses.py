"""What an item stage misses on a labelled split, and how its finder's peak_relative moves recall.

Every true item no found item matches at IoU ≥ 0.5 is put in one class by how the found items
cover it:

* merged: one found item covers ≥ 20 % of it and more than a fifth of that found item is another
  true item's (touching or overlapping items found as one);
* split: two or more found items cover ≥ 20 % of it each;
* partial: one found item covers 20–60 % of it and little else;
* loose: one found item covers ≥ 60 % of it and little else (its mask spills or is too coarse);
* none: no found item covers 20 % of it.

Then the finder is run again at each ``--peak-relative`` (how high a centre peak must stand
against its region's highest to split a region) at its own item threshold, and at each
``--item-threshold`` (the item probability a pixel needs to be an item's) at its own
peak_relative: recall, mask IoU and spurious items per setting. The categories are those of the
finder as trained (its own settings).

Run: .venv/bin/python -m benchmarks.item_misses --stage MODEL_DIR/items --archive ARCHIVE
         [--split val] [--peak-relative 0.5 0.3 0.2 0.1] [--item-threshold 0.5 0.4 0.3]
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import torch

from models.items.matching import match_items
from models.items.stage import load_finder
from scans.archive import Archive
from scans.modalities import build_input

MIN_COVER, LOOSE_COVER, OTHER_SHARE = 0.2, 0.6, 0.2


def miss_class(truth: np.ndarray, found: list[np.ndarray], objects: np.ndarray) -> str:
    """The class of one missed (H, W) bool ``truth`` item among the ``found`` masks of its scan,
    whose true instance map is ``objects`` (0 = background)."""
    area = max(int(truth.sum()), 1)
    cover = np.array([(mask & truth).sum() / area for mask in found]) if found else np.zeros(0)
    if not cover.size or cover.max() < MIN_COVER:
        return "none"
    if (cover >= MIN_COVER).sum() >= 2:
        return "split"
    best = found[int(cover.argmax())]
    owners = np.bincount(objects[best & ~truth], minlength=1)
    others = owners[1:].max() if owners.size > 1 else 0
    if others > OTHER_SHARE * best.sum():
        return "merged"
    return "loose" if cover.max() >= LOOSE_COVER else "partial"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", required=True, help="a trained item stage directory (MODEL_DIR/items)")
    parser.add_argument("--archive", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--peak-relative", type=float, nargs="+", default=[0.5, 0.3, 0.2, 0.1])
    parser.add_argument("--item-threshold", type=float, nargs="+", default=[])
    args = parser.parse_args()
    finder, spec = load_finder(args.stage)
    modality = spec["kwargs"].get("modality", "hlz")
    own = (finder.peak_relative, finder.item_threshold)
    settings = list(dict.fromkeys([own, *((r, own[1]) for r in args.peak_relative),
                                   *((own[0], t) for t in args.item_threshold)]))
    archive = Archive(args.archive)
    ids = archive.ids_in_split(args.split)
    classes: Counter = Counter()
    anomalous: Counter = Counter()
    sweep = {setting: {"found": 0, "ious": [], "spurious": 0} for setting in settings}
    n_true = 0
    for scan_id in ids:
        scan = archive.read(scan_id)
        image = torch.from_numpy(build_input(scan, modality))[None]
        n_true += scan.n_objects
        for setting in settings:
            finder.peak_relative, finder.item_threshold = setting
            masks = finder.find(image)[0].masks()
            match = match_items(masks, scan.objects, scan.n_objects)
            sweep[setting]["found"] += int(match.found_truth.sum())
            sweep[setting]["ious"] += match.iou_of_truth[match.found_truth].tolist()
            sweep[setting]["spurious"] += int((match.truth_of_found < 0).sum())
            if setting == own:
                for item in np.flatnonzero(~match.found_truth) + 1:
                    truth = scan.objects == item
                    kind = miss_class(truth, masks, scan.objects)
                    classes[kind] += 1
                    anomalous[kind] += int(scan.anomaly[truth].any())
    print(f"{args.split}: {len(ids)} scans, {n_true} true items; the finder's own peak_relative {own[0]}, "
          f"item threshold {own[1]}")
    print("| missed as | items | of them anomalous |\n|---|---|---|")
    for kind, count in classes.most_common():
        print(f"| {kind} | {count} | {anomalous[kind]} |")
    print("\n| peak_relative | item threshold | recall at IoU ≥ 0.5 | mask IoU | spurious items |"
          "\n|---|---|---|---|---|")
    for (relative, threshold), row in sweep.items():
        print(f"| {relative} | {threshold} | {100 * row['found'] / max(n_true, 1):.1f} % | "
              f"{np.mean(row['ious']):.3f} | {row['spurious']} |")


if __name__ == "__main__":
    main()
