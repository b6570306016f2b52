"""Training data shared by a node's trials: the memory-mapped node cache, and the object store
handing every trial the same copy without one of its own."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.shared_data_memory import unique_bytes
from scans.node_cache import COMPLETE, cached_arrays, cached_rows
from study.config import parse_config
from study.shared_data import (
    NodeStore,
    budget_of,
    cluster_stores,
    data_key,
    estimated_store,
    nbytes,
    share_training_data,
    trial_data,
)


def test_the_node_cache_is_built_once_and_memory_mapped(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"train/images": np.arange(12, dtype=np.float32).reshape(3, 4),
                "train/kind": np.array(["a", "bb"]), "val/empty": np.zeros((0, 4), np.int32)}

    first = cached_arrays(str(tmp_path), "c", build)
    again = cached_arrays(str(tmp_path), "c", build)
    assert len(calls) == 1 and sorted(again) == ["train/images", "train/kind", "val/empty"]
    assert isinstance(again["train/images"], np.memmap) and again["train/images"][2, 3] == 11
    assert again["train/kind"].tolist() == ["a", "bb"] and again["val/empty"].shape == (0, 4)
    again["train/images"][0, 0] = -1  # copy-on-write: the process's own page, not the file's
    assert cached_arrays(str(tmp_path), "c", build)["train/images"][0, 0] == 0 == first["train/images"][0, 0]
    (tmp_path / "c" / COMPLETE).unlink()  # an interrupted write is rebuilt
    cached_arrays(str(tmp_path), "c", build)
    assert len(calls) == 2


def test_rows_are_written_one_at_a_time_and_read_back_memory_mapped(tmp_path):
    made = []

    def rows():
        for i in range(5):
            made.append(i)
            yield {"images": np.full((2, 3, 3), i, np.float16), "objects": np.full((3, 3), i, np.int16)}

    arrays = cached_rows(str(tmp_path), "rows", rows, 5)
    assert isinstance(arrays["images"], np.memmap) and arrays["images"].shape == (5, 2, 3, 3)
    assert arrays["objects"][[4, 1]][:, 0, 0].tolist() == [4, 1] and len(made) == 5
    assert cached_rows(str(tmp_path), "rows", rows, 5)["images"][3, 0, 0, 0] == 3 and len(made) == 5  # once

    def uneven():
        yield {"images": np.zeros((2, 3, 3), np.float16)}
        yield {"images": np.zeros((2, 4, 3), np.float16)}

    with pytest.raises(ValueError, match=r"row 1: images is \(2, 4, 3\), the first row's \(2, 3, 3\)"):
        cached_rows(str(tmp_path), "uneven", uneven, 2)
    assert not (tmp_path / "uneven").exists()  # nothing half written is left as the cache


def _config(archive: str, tmp_path):
    return parse_config({"name": "shared", "storage": str(tmp_path / "runs"),
                         "data": {"archive": archive, "image_size": 256, "cache": str(tmp_path / "cache")},
                         "space": {"pipelines": ["ssn"], "backbones": ["tiny"], "modalities": ["hlz"]}})


def _private_growth(refs: dict, copy: bool) -> int:
    """In a Ray worker: the growth of private memory from getting the training set and reading all
    of it (or a private copy of it)."""
    before = unique_bytes()
    data = trial_data(refs, False, "hlz")
    images = data.train.images.numpy()
    if copy:
        images = np.array(images)
    checksum = float(sum(np.asarray(getattr(split, key)).sum(dtype=np.float64) for split in (data.train,
                         data.val, data.test) for key in ("images", "parts", "objects")) + images.sum())
    assert np.isfinite(checksum)
    return unique_bytes() - before


def test_trials_get_the_object_stores_copy_not_their_own(ray_session, study_archive, tmp_path):
    import ray

    config = _config(study_archive, tmp_path)
    refs = share_training_data(config)
    assert list(refs) == [data_key(False, "hlz")]
    size = nbytes(ray.get(refs["scans/hlz"]))
    assert size > 20 * 2**20  # 20 scans at 256²: enough to tell a copy from none
    probe = ray.remote(num_cpus=0.5)(_private_growth)
    shared = ray.get([probe.remote(refs, False), probe.remote(refs, False)])
    assert all(growth < 0.1 * size for growth in shared), (shared, size)
    growth = ray.get(probe.remote(refs, True))  # the control: a private copy shows up
    assert growth > 0.15 * size + max(shared), (growth, size)


def test_data_over_the_budget_stays_in_the_node_caches(ray_session, study_archive, tmp_path, capsys):
    config = _config(study_archive, tmp_path)
    assert share_training_data(config, budget=1024) == {}
    assert "memory-maps its node's cache" in capsys.readouterr().err
    assert trial_data({}, False, "hlz") is None
    assert any(p.name.startswith("dualscan-data-") for p in (tmp_path / "cache").iterdir())


GIB = 2**30


def test_a_cpu_only_head_with_no_workers_yet_is_budgeted_as_the_cluster_will_be():
    # the launcher's shape at submit time: the driver on a head with CPU 0, min_workers 0
    head = NodeStore("the driver's node 10.0.0.1", 9.6 * GIB)
    gpu_type = NodeStore("node type 'gpu_worker'", estimated_store({"CPU": 8, "GPU": 1, "memory": 32 * GIB}))
    assert gpu_type.store == pytest.approx(0.3 * 32 * GIB)  # Ray's default share of a node's memory
    budget, why = budget_of(head, [gpu_type])
    assert budget == pytest.approx(0.5 * 9.6 * GIB) and "the driver's node" in why  # the head holds it
    small_head = NodeStore("the driver's node 10.0.0.1", 2 * GIB)
    assert budget_of(small_head, [gpu_type])[0] == pytest.approx(1 * GIB)
    big_head = NodeStore("the driver's node 10.0.0.1", 40 * GIB)
    budget, why = budget_of(big_head, [gpu_type, NodeStore("node 10.0.0.7", 12 * GIB)])
    assert budget == pytest.approx(0.5 * 0.3 * 32 * GIB) and "gpu_worker" in why  # each reader pulls a copy
    unknown = NodeStore("node type 'cpu'", estimated_store({"CPU": 4}))
    budget, why = budget_of(big_head, [gpu_type, unknown])
    assert budget == 0 and "'cpu'" in why and "unknown" in why  # memory-mapped caches: always safe
    assert estimated_store({"object_store_memory": 5 * GIB, "memory": 64 * GIB}) == 5 * GIB


def test_the_budget_on_a_live_cluster_counts_the_driver_node(ray_session):
    holder, readers = cluster_stores()
    assert holder.store > 0 and readers  # one local node: it holds the data and runs the trials
    budget, why = budget_of(holder, readers)
    assert "object store" in why
    assert budget == pytest.approx(0.5 * min(r.store for r in [holder, *readers]))
