"""The scanner's physics tables (detector response, attenuation, Z calibration) in the node's cache:
built once from spekpy and xraydb (seconds, most of a synthesis process's start), then read back by
every later process in milliseconds, the same numbers to the bit."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from scans.node_cache import cache_root, cached_arrays

FORMAT = 1  # bumped whenever a table's content or layout changes
SOURCES = ("spekpy", "xraydb", "numpy")  # the packages whose numbers the tables hold


def _versions() -> dict[str, str]:
    out = {}
    for package in SOURCES:
        try:
            out[package] = version(package)
        except PackageNotFoundError:  # pragma: no cover - every one is a dependency
            out[package] = "absent"
    return out


def table_name(kind: str, identity: dict) -> str:
    """The cache entry of one table: its kind and a digest of everything its numbers depend on."""
    key = json.dumps({"format": FORMAT, "kind": kind, "identity": identity, "versions": _versions()},
                     sort_keys=True, default=str)
    return f"dualscan-physics-{kind}-{hashlib.sha256(key.encode()).hexdigest()[:20]}"


def physics_table(kind: str, identity: dict, build: Callable[[], dict[str, np.ndarray]],
                  root: str | None = None) -> dict[str, np.ndarray]:
    """The arrays ``build`` makes for ``identity``, from this node's cache (the system temp dir, or
    ``root``) when a process has built them before; plain in-memory copies."""
    arrays = cached_arrays(cache_root(root), table_name(kind, identity), build)
    return {key: np.array(value) for key, value in arrays.items()}
