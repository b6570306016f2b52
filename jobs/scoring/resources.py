"""How many scoring actors, from what minimum to what maximum, and what each one gets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerResources:
    """The scoring actor pool: ``workers`` when the job starts, growing up to ``max_workers`` as the
    cluster does and shrinking to ``min_workers`` when idle; per actor GPUs, CPUs and torch
    threads; ``note`` says when the CPUs asked for were shrunk."""

    workers: int
    min_workers: int
    max_workers: int
    gpus: float
    cpus: float
    torch_threads: int | None
    note: str = ""


def configured_maximum() -> dict[str, float] | None:
    """The most resources the cluster's autoscaler may bring up (each node type's max_workers ×
    its resources), or None on a cluster without an autoscaler config (a fixed or hand-made one)."""
    try:
        # ray._private: no public Ray 2.x API gives the autoscaler's maximum (Ray Data reads it so too)
        from ray._private.state import state

        return state.get_max_resources_from_cluster_config()
    except Exception:
        return None


def scorer_resources(options, n_files: int, cluster: dict[str, float],
                     maximum: dict[str, float] | None = None) -> WorkerResources:
    """The scoring actors for ``options`` (a ScoreOptions) over ``n_files`` on a cluster with
    ``cluster`` resources now and at most ``maximum`` (the autoscaler's configured maximum).

    Custom resources (``--worker-resource NAME=AMOUNT``, e.g. ``scorer=1`` with nodes started with
    ``--resources '{"scorer": 2}'``) bound the pool like GPUs do: no more actors than the cluster
    holds (now, or at most) of each one; Ray places an actor only on a node that has them.

    GPUs: 1 per actor when the cluster has a GPU now *or may get one* (an autoscaling GPU group
    that starts from zero: the first actor's request brings a node up); CPU actors only when there
    is none, or when asked (``--gpus-per-worker 0``). Actors: one per GPU, or on CPU one per CPU
    but one in eight (left to the decode tasks: decoding is about a tenth of a scan's CPU time),
    each with one torch thread; never more than full batches in ``n_files``. The pool starts at
    what the cluster holds now and grows to what it may hold (``--max-workers``, else the
    configured maximum; without one, the cluster as it is). ``--workers`` fixes the pool's size;
    torch threads on CPU then default to the CPUs shared out among the actors. A pool that takes
    every CPU starves the other tasks and hangs (ray issue #44687), so one CPU is left out of the
    actors' reservations. GPU actors get torch threads equal to their CPU share."""
    now_cpus, now_gpus = cluster.get("CPU", 1), cluster.get("GPU", 0)
    most = maximum or {}
    max_cpus, max_gpus = max(now_cpus, most.get("CPU", 0)), max(now_gpus, most.get("GPU", 0))
    gpus = options.gpus_per_worker
    if gpus is None:
        gpus = 1.0 if max_gpus >= 1 else 0.0

    def capacity(cpus: float, gpu_count: float, held: dict[str, float]) -> int:
        fits = int(gpu_count // gpus) if gpus > 0 else int(cpus - cpus // 8)
        for name, amount in options.worker_resources.items():
            fits = min(fits, int(held.get(name, 0) // amount))
        return fits

    batches = max(1, n_files // options.batch_size)
    if options.workers is not None:
        workers = low = high = options.workers
    else:
        most_held = {name: max(cluster.get(name, 0), most.get(name, 0)) for name in options.worker_resources}
        high = min(options.max_workers or capacity(max_cpus, max_gpus, most_held), batches)
        workers = max(1, min(capacity(now_cpus, now_gpus, cluster), high))
        high = max(high, workers)
        low = max(1, min(options.min_workers, workers))
    cpus, note = options.cpus_per_worker, ""
    spare = now_cpus - 1
    if workers * cpus > spare:
        cpus = max(spare / workers, 0.1)
        if options.workers is not None:
            note = (f"{workers} worker(s) × {options.cpus_per_worker} CPU would leave no CPU to read "
                    f"scans; using {cpus:g} CPU per worker")
    threads = options.torch_threads
    if threads is None:
        threads = max(1, int(now_cpus // workers)) if gpus == 0 else max(1, int(cpus))
    return WorkerResources(workers, low, high, gpus, cpus, threads, note)
