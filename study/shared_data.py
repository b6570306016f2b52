"""Training data handed to a study's trials: one copy per node, through Ray's object store when it fits.

The rule, chosen by size on the driver before any trial starts: when every training set the study
needs (one per input modality, item crops for item-first pipelines, whole scans for the others)
fits in ``OBJECT_STORE_SHARE`` of the smallest object store that must hold it (the driver's node's,
where ``ray.put`` keeps the primary copy: on a cluster, the head; and that of every node that runs
trials, now or as the autoscaler may start them: each pulls one copy), the driver prepares each
once and puts it in the object store; trials get it by reference, zero-copy, so the trials of a
node share that node's one copy. When it does not fit, each trial memory-maps its node's cache (built
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

OBJECT_STORE_SHARE = 0.5  # of the smallest store that must hold the data: the rest is Ray Data's and trials'
# Ray's object store on a node that sets none: this share of its memory, at most this many bytes
# (ray_constants.DEFAULT_OBJECT_STORE_MEMORY_PROPORTION, DEFAULT_OBJECT_STORE_MAX_MEMORY_BYTES)
DEFAULT_STORE_SHARE = 0.3
DEFAULT_STORE_MAX = 200e9


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


@dataclasses.dataclass(frozen=True)
class NodeStore:
    """A node that holds or reads the shared training data, and its object store in bytes (None:
    unknown: a node type the autoscaler may start whose memory its config does not give)."""

    name: str
    store: float | None


def estimated_store(resources: dict[str, float]) -> float | None:
    """The object store a node with ``resources`` gets: its own ``object_store_memory``, else Ray's
    default share of its ``memory`` (30 %, at most 200 GB), else None."""
    if resources.get("object_store_memory"):
        return float(resources["object_store_memory"])
    if resources.get("memory"):
        return min(DEFAULT_STORE_SHARE * float(resources["memory"]), DEFAULT_STORE_MAX)
    return None


def budget_of(holder: NodeStore, readers: list[NodeStore]) -> tuple[float, str]:
    """``OBJECT_STORE_SHARE`` of the smallest store that must hold the data: the holder's (the
    driver's node: ``ray.put`` keeps the primary copy there) and every reader's (a node whose trials
    get the data pulls a copy into its own store); and which node set it. An unknown reader store
    gives 0 (trials then memory-map their nodes' caches, which always works)."""
    unknown = [r.name for r in readers if r.store is None]
    if unknown:
        return 0.0, f"{unknown[0]}'s object store is unknown (its memory is not in the autoscaler's config)"
    smallest = min([holder, *readers], key=lambda n: n.store)
    return OBJECT_STORE_SHARE * smallest.store, f"{OBJECT_STORE_SHARE:.0%} of {smallest.name}'s object store"


def cluster_stores() -> tuple[NodeStore, list[NodeStore]]:
    """On the driver: its node's store (the holder), and the stores of the nodes trials may run on:
    every live node with CPUs or GPUs, and every node type the cluster's autoscaler may start
    (a cluster whose workers are not up yet at submit time is budgeted as it will be)."""
    import ray

    driver = ray.get_runtime_context().get_node_id()
    alive = [n for n in ray.nodes() if n.get("Alive")]
    holder, readers = None, []
    for node in alive:
        resources = node["Resources"]
        store = NodeStore(f"node {node['NodeManagerAddress']}", resources.get("object_store_memory", 0.0))
        if node["NodeID"] == driver:
            holder = NodeStore(f"the driver's node {node['NodeManagerAddress']}", store.store)
        if resources.get("CPU", 0) or resources.get("GPU", 0):
            readers.append(store)
    for group in planned_node_types():
        readers.append(NodeStore(f"node type {group.name!r}", estimated_store(dict(group.resources))))
    if holder is None:
        raise RuntimeError("the driver's node is not among the cluster's live nodes")
    return holder, readers


def planned_node_types() -> list:
    """The autoscaler's node types that run work (CPUs or GPUs, may start at least one), or []
    on a cluster without an autoscaler config."""
    try:
        from ray._private.state import state  # no public API for this in Ray 2.60

        config = state.get_cluster_config()
    except Exception:
        return []
    groups = config.node_group_configs if config is not None else []
    return [g for g in groups if g.max_count != 0 and (g.resources.get("CPU") or g.resources.get("GPU"))]


def object_store_budget() -> tuple[float, str]:
    """On the driver: the budget for the shared training data on this cluster as it is and as its
    autoscaler may grow it (``budget_of`` over ``cluster_stores``), and what set it."""
    return budget_of(*cluster_stores())


def load_training_data(config: StudyConfig, item_first: bool, modality: str):
    """One training set from this node's cache (built from the archive when absent)."""
    return load_item_study_data(config, modality) if item_first else load_study_data(config.data, modality)


def share_training_data(config: StudyConfig, budget: float | None = None) -> dict:
    """On the driver: every training set the study needs in the object store, by ``data_key``, when
    all of them fit ``budget`` (default: ``object_store_budget()``); else {} and trials memory-map
    their nodes' caches. Prints which, with the sizes."""
    import ray

    budget, why = object_store_budget() if budget is None else (budget, "the budget given")
    loaded = {data_key(kind, modality): load_training_data(config, kind, modality)
              for kind, modality in needed(config)}
    total = sum(nbytes(v) for v in loaded.values())
    if total > budget:
        print(f"training data: {total / 2**30:.2f} GiB is more than {budget / 2**30:.2f} GiB ({why}); each "
              "trial memory-maps its node's cache (one copy per node)", file=sys.stderr)
        refs = {}
    else:
        refs = {key: ray.put(value) for key, value in loaded.items()}
        print(f"training data: {total / 2**30:.2f} GiB in the object store (within {budget / 2**30:.2f} GiB: "
              f"{why}), shared by the trials of each node", file=sys.stderr)
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
