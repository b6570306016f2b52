"""Training data handed to a study's trials: one copy per node, through Ray's object store when it fits.

The rule, chosen by size on the driver before any trial starts: when every training set the study
needs (one per input modality, item crops for item-first pipelines, whole scans for the others)
fits in ``OBJECT_STORE_SHARE`` of the smallest node's object store, the driver prepares each once
and puts it in the object store; trials get it by reference, zero-copy, so the trials of a node
share that node's one copy. When it does not fit, each trial memory-maps its node's cache (built
once per node from the archive), which the node's trials share through the page cache and which
is paged in from disk as read when it is larger than memory.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import torch

from study.config import StudyConfig
from study.data import forget_study_data, load_study_data
from study.items.trial import forget_item_study_data, load_item_study_data
from study.pipelines import PIPELINES

OBJECT_STORE_SHARE = 0.5  # of the smallest node's object store: the rest is left to Ray Data and trials


def data_key(item_first: bool, modality: str) -> str:
    """The name of one training set: item crops or whole scans, in one modality."""
    return f"{'items' if item_first else 'scans'}/{modality}"


def needed(config: StudyConfig) -> list[tuple[bool, str]]:
    """(item-first, modality) of every training set the study's trials use."""
    kinds = sorted({PIPELINES[name].item_first for name in config.space.pipelines})
    return [(kind, modality) for kind in kinds for modality in config.space.modalities]


def nbytes(value) -> int:
    """Bytes of the arrays held by ``value`` (a dataclass of arrays and dataclasses of arrays)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if dataclasses.is_dataclass(value):
        return sum(nbytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    return 0


def object_store_budget() -> float:
    """``OBJECT_STORE_SHARE`` of the smallest object store among the nodes that run work."""
    import ray

    stores = [n["Resources"].get("object_store_memory", 0) for n in ray.nodes()
              if n.get("Alive") and (n["Resources"].get("CPU", 0) or n["Resources"].get("GPU", 0))]
    return OBJECT_STORE_SHARE * min(stores, default=0)


def load_training_data(config: StudyConfig, item_first: bool, modality: str):
    """One training set from this node's cache (built from the archive when absent)."""
    return load_item_study_data(config, modality) if item_first else load_study_data(config.data, modality)


def share_training_data(config: StudyConfig, budget: float | None = None) -> dict:
    """On the driver: every training set the study needs in the object store, by ``data_key``, when
    all of them fit ``budget`` (default: ``object_store_budget()``); else {} and trials memory-map
    their nodes' caches. Prints which, with the sizes."""
    import ray

    budget = object_store_budget() if budget is None else budget
    loaded = {data_key(kind, modality): load_training_data(config, kind, modality)
              for kind, modality in needed(config)}
    total = sum(nbytes(v) for v in loaded.values())
    if total > budget:
        print(f"training data: {total / 2**30:.2f} GiB is more than {budget / 2**30:.2f} GiB of the object "
              "store; each trial memory-maps its node's cache (one copy per node)", file=sys.stderr)
        refs = {}
    else:
        refs = {key: ray.put(value) for key, value in loaded.items()}
        print(f"training data: {total / 2**30:.2f} GiB in the object store, shared by the trials of each "
              "node", file=sys.stderr)
    del loaded
    forget_study_data()  # the driver keeps no copy: its memory maps close
    forget_item_study_data()
    return refs


def trial_data(refs: dict | None, item_first: bool, modality: str):
    """In a trial: its training set from the object store (zero-copy), or None (load from the node's
    cache)."""
    ref = (refs or {}).get(data_key(item_first, modality))
    if ref is None:
        return None
    import ray

    return ray.get(ref)
