"""Helpers of the cluster tests: a local cluster stopped in every outcome, `ray` as its client,
jobs submitted and waited for, the smoke study as a job's config, and node processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import yaml

from jobs.local_cluster import ClusterError, LocalCluster, NodeProcess, down, session_pids, up
from tests.smoke_study import REPO, smoke

RAY = os.path.join(os.path.dirname(sys.executable), "ray")
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def running_cluster(tmp_path_factory, workers: int, cpus_per_worker: int,
                    resources_per_worker: dict[str, float] | None = None):
    """A head (no CPUs for work) and ``workers`` worker nodes on free ports, stopped in every outcome
    (a fixture's generator: ``yield from`` it)."""
    for attempt in (1, 2):  # a node that cannot reach the head on a loaded machine: once more, fresh
        state = str(tmp_path_factory.mktemp("cluster-state"))
        try:
            cluster = up(state, workers=workers, cpus_per_worker=cpus_per_worker,
                         resources_per_worker=resources_per_worker, port=None, dashboard_port=None)
            break
        except ClusterError:  # `up` has stopped what it started
            if attempt == 2:
                raise
    try:
        yield cluster
    finally:
        down(state, grace_s=2.0)  # nothing left to drain: the tests waited for their jobs


def ray_cli(cluster: LocalCluster, *args: str, check: bool = True) -> str:
    """Run the `ray` command as a client of ``cluster`` (its address and token in the environment)."""
    env = {**os.environ, **cluster.client_env()}
    done = subprocess.run([RAY, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"ray {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def submit(cluster: LocalCluster, module: str, *args: str) -> str:
    """`ray job submit --no-wait` with the shipped runtime_env; returns the job id. Retried while the
    head's job agent is still starting (right after `up`: "No available agent to submit job")."""
    deadline = time.monotonic() + 60
    while True:
        out = ray_cli(cluster, "job", "submit", "--no-wait", "--runtime-env", "cluster/runtime_env.yaml",
                      "--", "python", "-m", module, *args, check=False)
        if "Job '" in out or "No available agent" not in out or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert "Job '" in out, out[-3000:]
    return out.split("Job '", 1)[1].split("'", 1)[0]


WAIT_FOR_JOB = """
import sys, time
from ray.job_submission import JobSubmissionClient
client, deadline = JobSubmissionClient(), time.monotonic() + float(sys.argv[2])
while not (status := client.get_job_status(sys.argv[1])).is_terminal() and time.monotonic() < deadline:
    time.sleep(0.5)
print(status.value)
"""


def wait_job(cluster: LocalCluster, job: str, timeout_s: float = 300) -> tuple[str, str]:
    """Wait until ``job`` ends; (its status, its logs)."""
    env = {**os.environ, **cluster.client_env()}
    done = subprocess.run([sys.executable, "-c", WAIT_FOR_JOB, job, str(timeout_s)], env=env,
                          capture_output=True, text=True, timeout=timeout_s + 60)
    state = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:]
    logs = ray_cli(cluster, "job", "logs", job, check=False)
    if state not in TERMINAL:
        raise AssertionError(f"job {job} did not end within {timeout_s} s ({state}):\n{logs[-3000:]}")
    return state, logs


def command_lines(pids: list[int]) -> list[tuple[int, str]]:
    """(pid, command line) of those of ``pids`` still running (Linux /proc)."""
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                out.append((pid, f.read().replace(b"\0", b" ").decode(errors="replace")))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def node_processes(node: NodeProcess) -> list[tuple[int, str]]:
    """(pid, command line) of every process of a node."""
    return command_lines(session_pids(node.pid))


def study_config(tmp_path, archive: str, name: str, **space) -> str:
    """The smoke study as a YAML file for `jobs.study --config`, its runs under tmp_path/runs."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(smoke(archive, tmp_path / "runs", name, space=space)))
    return str(path)
