"""Joining Ray from a job: the cluster of RAY_ADDRESS / `ray job submit`, or a local one."""

from __future__ import annotations


def connect(local: bool) -> None:
    """Join the running cluster (or start one here with ``local``), quietly; no-op when connected."""
    import ray

    if ray.is_initialized():
        return
    ray.init(address="local" if local else None, log_to_driver=False,
             logging_config=ray.LoggingConfig(log_level="WARNING"))
