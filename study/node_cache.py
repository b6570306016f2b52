"""A node's cache of prepared training arrays: a directory of .npy files, memory-mapped when read."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable

import numpy as np

COMPLETE = "_COMPLETE"  # written last: a directory without it is a write that did not finish
SEPARATOR = "__"  # "train/images" is stored as train__images.npy


def cache_root(configured: str | None) -> str:
    """The cache directory: data.cache, or the system temp dir (each node's own disk)."""
    root = os.path.expanduser(configured) if configured else tempfile.gettempdir()
    os.makedirs(root, exist_ok=True)
    return root


def _load(path: str) -> np.ndarray:
    try:  # copy-on-write: every process on the node shares the page cache's one copy
        return np.load(path, mmap_mode="c", allow_pickle=False)
    except ValueError:  # an empty array cannot be mapped
        return np.load(path, allow_pickle=False)


def cached_arrays(root: str, name: str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays of cache ``root/name``, built with ``build`` and written once when absent.

    They come back memory-mapped (copy-on-write), so the trials of one node share one copy in the
    page cache rather than holding one each, and data larger than memory is paged in as read."""
    path = os.path.join(root, name)
    if not os.path.exists(os.path.join(path, COMPLETE)):
        arrays = build()
        tmp = tempfile.mkdtemp(dir=root, prefix=f"{name}.tmp-")
        try:
            for key, value in arrays.items():
                np.save(os.path.join(tmp, key.replace("/", SEPARATOR) + ".npy"), value, allow_pickle=False)
            with open(os.path.join(tmp, COMPLETE), "w", encoding="utf-8") as f:
                f.write(f"{len(arrays)} arrays\n")
            if not os.path.exists(os.path.join(path, COMPLETE)):
                shutil.rmtree(path, ignore_errors=True)  # an unfinished write of an earlier run
            with contextlib.suppress(OSError):  # another process on this node finished it first
                os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return {file[:-4].replace(SEPARATOR, "/"): _load(os.path.join(path, file))
            for file in sorted(os.listdir(path)) if file.endswith(".npy")}
