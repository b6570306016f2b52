"""Joining Ray from a job: the cluster of RAY_ADDRESS / `ray job submit`, or with --local one of our own."""

from __future__ import annotations

import os

# set by Ray's job supervisor in the environment of every `ray job submit` entrypoint
JOB_ENV_VAR = "RAY_JOB_CONFIG_JSON_ENV_VAR"


class NoClusterError(ConnectionError):
    """A job was asked to join a cluster and none could be found."""


def in_ray_job() -> bool:
    """Whether this process is the entrypoint of a `ray job submit` job."""
    return JOB_ENV_VAR in os.environ


def connect(local: bool) -> None:
    """With ``local``, start Ray on this machine (quiet: the job prints its own table); else join
    the running cluster (RAY_ADDRESS, the job's cluster, or one started here with `ray start`) with
    worker output streamed to the driver, so `ray job logs` shows the trials'. Never starts a
    private Ray when a cluster was asked for. No-op when already connected."""
    import ray

    if ray.is_initialized():
        return
    logging_config = ray.LoggingConfig(log_level="WARNING")
    if local:
        ray.init(address="local", log_to_driver=False, logging_config=logging_config)
        return
    try:
        ray.init(address="auto", log_to_driver=True, logging_config=logging_config)
    except ConnectionError as err:
        where = f"RAY_ADDRESS={os.environ['RAY_ADDRESS']!r}" if os.environ.get("RAY_ADDRESS") else \
            "RAY_ADDRESS is unset and no cluster runs on this machine"
        raise NoClusterError(f"no Ray cluster to join ({where}): submit with `ray job submit`, start "
                             "one (`ray start --head`, `dualscan cluster up`), or pass --local to run "
                             f"on this machine alone ({err})") from None


def refuse_relative_paths(paths: dict[str, str | None]) -> None:
    """Under `ray job submit`, refuse local paths that are relative: they resolve inside the job's
    copy of the working directory, on one node, and vanish with it. ``paths``: what each is (a
    flag or config key) -> its value as the user gave it."""
    if not in_ray_job():
        return
    for name, value in paths.items():
        if value is None or "://" in value or os.path.isabs(os.path.expanduser(value)):
            continue
        raise ValueError(f"{name}: {value!r} is a relative path; under `ray job submit` it would resolve "
                         "inside the job's temporary copy of the working directory. Give an absolute "
                         "path on storage every node shares (NFS) or a URI (s3://, gs://)")
