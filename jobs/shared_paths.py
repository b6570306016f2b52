"""Before a job's work on a multi-node cluster: every node sees its local paths as the driver does."""

from __future__ import annotations

import os

MAX_NAMES = 1000  # a directory's view: its entry count and first names, enough to tell two apart


class SharedPathError(RuntimeError):
    """A local path that some node of the cluster does not see as the driver does."""


def view_of(path: str) -> str:
    """What this machine sees at ``path``: nothing, a file of some size, or a directory's entries."""
    if os.path.isdir(path):
        try:
            names = sorted(os.listdir(path))
        except OSError as err:
            return f"an unreadable directory ({err.strerror})"
        shown = ", ".join(names[:MAX_NAMES])
        return f"a directory of {len(names)} entries [{shown}]"
    if os.path.isfile(path):
        return f"a file of {os.path.getsize(path)} bytes"
    return "nothing"


def _views(paths: dict[str, str]) -> tuple[str, dict[str, str]]:
    import ray

    return ray.get_runtime_context().get_node_id(), {name: view_of(p) for name, p in paths.items()}


def check_shared_paths(paths: dict[str, str], timeout_s: float = 120.0) -> None:
    """With more than one node alive, run a tiny task on each and stop, naming the node and the
    path, when one sees any of ``paths`` (what it is -> a local path) differently from the driver:
    a path only the head has would otherwise fail late, on the workers, after all the compute."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = {n["NodeID"]: n for n in ray.nodes() if n.get("Alive")}
    if len(nodes) < 2 or not paths:
        return
    expected = {name: view_of(p) for name, p in paths.items()}
    probe = ray.remote(num_cpus=0, max_retries=0)(_views)
    on = {node_id: NodeAffinitySchedulingStrategy(node_id, soft=False) for node_id in nodes}
    refs = [probe.options(scheduling_strategy=strategy).remote(paths) for strategy in on.values()]
    for node_id, seen in ray.get(refs, timeout=timeout_s):
        for name, view in seen.items():
            if view != expected[name]:
                node = nodes[node_id]
                where = f"{node.get('NodeManagerAddress', '?')} (node {node_id[:12]})"
                raise SharedPathError(
                    f"{name} {paths[name]}: node {where} sees {_short(view)}, the driver sees "
                    f"{_short(expected[name])}. On a multi-node cluster every input and output must be "
                    "on storage all nodes share (NFS, or a URI: s3://, gs://)")


def _short(view: str, limit: int = 160) -> str:
    return view if len(view) <= limit else view[: limit - 1] + "…]"
