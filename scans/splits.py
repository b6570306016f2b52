"""What an import's archive gets after its scans are written: a seeded train/val/test split drawn
into its manifest, stratified by label, and the detector pitch in archive.json."""

from __future__ import annotations

import numpy as np

from scans.archive import Archive, finish_archive

SPLITS = ("train", "val", "test")


def draw_splits(labels: list[bool | None], val_fraction: float, test_fraction: float,
                seed: int) -> list[str]:
    """Each scan's split: within each label group (anomalous, benign, unlabelled) a seeded shuffle
    gives round(fraction × group) scans to test, then to val, and the rest to train."""
    if not (val_fraction >= 0 and test_fraction >= 0 and val_fraction + test_fraction < 1):
        raise ValueError(f"--val-fraction {val_fraction} and --test-fraction {test_fraction}: each must be "
                         "≥ 0, and their sum below 1 (some scans must train)")
    rng = np.random.default_rng(seed)
    out = [""] * len(labels)
    for group in (True, False, None):
        members = [i for i, label in enumerate(labels) if label is group]
        n_test = round(test_fraction * len(members))
        n_val = round(val_fraction * len(members))
        for rank, index in enumerate(rng.permutation(len(members))):
            out[members[index]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return out


def amend_archive(uri: str, split_plan: tuple[float, float, int] | None = None,
                  pitch_mm: float | None = None) -> dict[str, int]:
    """Rewrite ``uri``'s manifest with splits drawn by ``split_plan`` (val fraction, test fraction,
    seed) and record ``pitch_mm``, archive.json last (with how the splits were drawn); returns the
    count of scans per split. Nothing to amend: the archive is left as it is."""
    archive = Archive(uri)
    rows = archive.manifest.to_pylist()
    if split_plan is not None or pitch_mm is not None:
        info = {k: v for k, v in archive.info.items() if k not in ("format", "version", "n_scans")}
        if split_plan is not None:
            val, test, seed = split_plan
            drawn = draw_splits([r["is_anomalous"] for r in rows], val, test, seed)
            for row, split in zip(rows, drawn, strict=True):
                row["split"] = split
            info["splits"] = {"drawn": "random, stratified by is_anomalous", "val_fraction": val,
                              "test_fraction": test, "seed": seed}
        if pitch_mm is not None:
            info["pitch_mm"] = pitch_mm
        finish_archive(archive.root, rows, info)
    return {name: sum(r["split"] == name for r in rows) for name in SPLITS}
