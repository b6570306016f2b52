"""A node's cache of prepared training arrays: a directory of .npy files, memory-mapped when read."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator

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


def _publish(root: str, name: str, write: Callable[[str], int]) -> str:
    """``root/name``: written once by ``write(directory)`` (it returns how many arrays it wrote) into
    a temporary directory that replaces it when complete, unless another process of the node
    finished it first."""
    path = os.path.join(root, name)
    if not os.path.exists(os.path.join(path, COMPLETE)):
        tmp = tempfile.mkdtemp(dir=root, prefix=f"{name}.tmp-")
        try:
            count = write(tmp)
            with open(os.path.join(tmp, COMPLETE), "w", encoding="utf-8") as f:
                f.write(f"{count} arrays\n")
            if not os.path.exists(os.path.join(path, COMPLETE)):
                shutil.rmtree(path, ignore_errors=True)  # an unfinished write of an earlier run
            with contextlib.suppress(OSError):  # another process on this node finished it first
                os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def _read(path: str) -> dict[str, np.ndarray]:
    return {file[:-4].replace(SEPARATOR, "/"): _load(os.path.join(path, file))
            for file in sorted(os.listdir(path)) if file.endswith(".npy")}


def cached_arrays(root: str, name: str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays of cache ``root/name``, built with ``build`` and written once when absent.

    They come back memory-mapped (copy-on-write), so the trials of one node share one copy in the
    page cache rather than holding one each, and data larger than memory is paged in as read."""

    def write(directory: str) -> int:
        arrays = build()
        for key, value in arrays.items():
            np.save(os.path.join(directory, key.replace("/", SEPARATOR) + ".npy"), value, allow_pickle=False)
        return len(arrays)

    return _read(_publish(root, name, write))


def cached_rows(root: str, name: str, rows: Callable[[], Iterator[dict[str, np.ndarray]]], n: int
                ) -> dict[str, np.ndarray]:
    """Arrays of ``n`` rows each in cache ``root/name``, written one row at a time (what ``rows()``
    yields, each row shaped as the first) straight into memory-mapped files, so that the whole never
    sits in memory; read back memory-mapped, a batch of rows paged in as it is indexed."""

    def write(directory: str) -> int:
        files: dict[str, np.ndarray] = {}
        count = 0
        for index, row in enumerate(rows()):
            if not files:
                files = {key: np.lib.format.open_memmap(
                    os.path.join(directory, key.replace("/", SEPARATOR) + ".npy"), mode="w+",
                    dtype=value.dtype, shape=(n, *value.shape)) for key, value in row.items()}
            for key, value in row.items():
                if value.shape != files[key].shape[1:]:
                    raise ValueError(f"row {index}: {key} is {value.shape}, the first row's "
                                     f"{files[key].shape[1:]}")
                files[key][index] = value
            count = index + 1
        if count != n:
            raise ValueError(f"{count} rows, {n} expected")
        for array in files.values():
            array.flush()
        return len(files)

    return _read(_publish(root, name, write))
