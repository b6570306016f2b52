"""World 2's catalogue of designs: each item class has numbered models, each model's layout is drawn
from its own id, and which models are train, val or test is fixed by id, the same in every archive."""

from __future__ import annotations

import zlib

import numpy as np

MODELS_PER_CLASS = 60
# the share of each class's models that only train, val or test scans draw (by id, never by seed)
MODEL_SHARES = (("train", 0.7), ("val", 0.1), ("test", 0.2))
_LAYOUT, _SPLIT = 0xDE5167, 0x5B117


def class_key(item_class: str) -> int:
    """A stable number for a class name (the same in every process and Python)."""
    return zlib.crc32(item_class.encode())


def model_name(item_class: str, index: int) -> str:
    """The name a model is recorded by: its class and number (``laptop-017``)."""
    return f"{item_class}-{index:03d}"


def model_rng(item_class: str, index: int) -> np.random.Generator:
    """A fresh generator of model ``index``'s layout: every unit of that model draws the same one."""
    if not 0 <= index < MODELS_PER_CLASS:
        raise ValueError(f"{item_class} model {index}: models are numbered 0..{MODELS_PER_CLASS - 1}")
    return np.random.default_rng([class_key(item_class), index, _LAYOUT])


def model_splits(item_class: str) -> dict[str, list[int]]:
    """Which of the class's models each split draws from: a fixed permutation of the ids per class,
    cut by MODEL_SHARES."""
    order = np.random.default_rng([class_key(item_class), _SPLIT]).permutation(MODELS_PER_CLASS)
    out, start = {}, 0
    for split, share in MODEL_SHARES:
        count = round(share * MODELS_PER_CLASS)
        out[split] = sorted(int(i) for i in order[start:start + count])
        start += count
    out["test"] += sorted(int(i) for i in order[start:])
    return out


def split_of_model(item_class: str, index: int) -> str:
    """The split whose scans hold model ``index`` of ``item_class`` under ``--split-by model``."""
    return next(split for split, ids in model_splits(item_class).items() if index in ids)
