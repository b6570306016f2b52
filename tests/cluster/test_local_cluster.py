"""A real multi-node Ray cluster on this machine: `ray job submit` of a study and a scoring job, and
surviving a killed worker node and a killed study driver. The cluster is stopped in every outcome."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from jobs.cluster import get_args_parser
from jobs.cluster import main as cluster_main
from jobs.local_cluster import (
    LocalCluster,
    add_worker,
    alive_nodes,
    down,
    stop_nodes,
    up,
)
from scans.storage import locate
from scans.synth import SynthConfig, synthesise
from study.results import load_statuses, load_trials
from tests.cluster.jobs import RAY, command_lines, node_processes, ray_cli, study_config, submit, wait_job
from tests.smoke_study import smoke

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scoring_archive(tmp_path_factory) -> str:
    """Enough scans that scoring is still running when a node is killed."""
    out = str(tmp_path_factory.mktemp("archive") / "many")
    synthesise(SynthConfig(n=160, size=64, seed=11, split=0.5, val=0.0), out, workers=2, progress=False)
    return out


def report_rows(report: str) -> list[tuple[str, str]]:
    table = pq.read_table(os.path.join(report, "scans"), columns=["scan_id", "source", "status"])
    return list(zip(table.column("scan_id").to_pylist(), table.column("source").to_pylist(), strict=True))


def test_cluster_command_reports_a_missing_cluster(tmp_path, capsys):
    args = get_args_parser().parse_args(["status", "--state-dir", str(tmp_path)])
    assert cluster_main(args) == 1
    assert "no local cluster" in capsys.readouterr().err
    assert down(str(tmp_path)) is None


def test_a_port_taken_before_the_head_binds_it_is_tried_again_with_fresh_ones(tmp_path, monkeypatch):
    import jobs.local_cluster as local

    with socket.socket() as held:  # another process takes the dashboard's port once it was picked
        held.bind(("127.0.0.1", 0))
        held.listen()
        plain = local.free_port
        picks = iter([plain(), held.getsockname()[1]])  # the head's port, then the dashboard's
        monkeypatch.setattr(local, "free_port", lambda: next(picks, None) or plain())
        cluster = up(str(tmp_path), workers=0, port=None, dashboard_port=None)
        try:
            assert cluster.dashboard_port != held.getsockname()[1]
            assert alive_nodes(cluster) == ["head"]  # the second head, up, and its dashboard answers
            assert len(cluster.nodes) == 1  # the first one, stopped, is forgotten
        finally:
            down(str(tmp_path), grace_s=2.0)


def test_cluster_has_token_auth_and_every_node(cluster):
    assert oct(os.stat(cluster.token_path).st_mode & 0o777) == "0o600"
    assert [node.role for node in cluster.nodes] == ["head", "worker-1", "worker-2"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # `ray status` shows the autoscaler's view, a few seconds late
        out = ray_cli(cluster, "status", "--address", cluster.gcs_address)
        if out.count("node_") == 3:
            break
        time.sleep(1)
    assert out.count("node_") == 3 and "/4.0 CPU" in out, out
    with open(cluster.token_path, encoding="utf-8") as f:
        token = f.read().strip()
    refused = job_list_with_token(cluster, "0" * 64)
    output = refused.stdout + refused.stderr
    # a wrong token is turned away because of the token: the job server's own refusal, 403
    assert refused.returncode != 0 and "Forbidden: Invalid authentication token" in output, output
    accepted = job_list_with_token(cluster, token)  # the same command with the cluster's token
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    with pytest.raises(urllib.error.HTTPError) as no_token:  # and a request with none at all
        urllib.request.urlopen(f"{cluster.dashboard_url}/api/jobs/", timeout=30)
    assert no_token.value.code == 401, no_token.value
    request = urllib.request.Request(f"{cluster.dashboard_url}/api/jobs/",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:  # the same request with it
        assert answer.status == 200


def job_list_with_token(cluster: LocalCluster, token: str) -> subprocess.CompletedProcess:
    """`ray job list` against the cluster's job server with ``token`` and nothing else from Ray's
    environment (no RAY_AUTH_TOKEN_PATH to fall back on)."""
    without_token = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return subprocess.run([RAY, "job", "list", "--address", cluster.dashboard_url],
                          env={**without_token, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token},
                          capture_output=True, text=True, timeout=60)


def test_study_then_scoring_jobs_end_to_end(cluster, study_job, study_archive, tmp_path):
    run, logs = Path(study_job[0]), study_job[1]
    assert "val objective" in logs  # the trials' own output reaches `ray job logs`
    assert (run / "results" / "tables.md").exists() and (run / "best" / "model.pt").exists()
    assert len(load_trials(locate(str(run)))) == 4
    report = str(tmp_path / "report")
    state, logs = wait_job(cluster, submit(cluster, "jobs.score", "--archive", study_archive, "--model",
                                           str(run / "best"), "--out", report, "--no-progress"))
    assert state == "SUCCEEDED", logs[-3000:]
    success = json.loads((tmp_path / "report" / "_SUCCESS").read_text())
    assert success["counts"]["files"] == success["counts"]["ok"] == 20
    assert sorted(report_rows(report)) == sorted(set(report_rows(report)))


def test_relative_paths_under_job_submit_stop_with_the_message(cluster, study_archive, tmp_path):
    config = tmp_path / "relative.yaml"
    settings = smoke(study_archive, tmp_path / "runs", "relative")
    config.write_text(yaml.safe_dump({**settings, "storage": "runs"}))
    study = submit(cluster, "jobs.study", "--config", str(config))  # both at once: each stops at once
    score = submit(cluster, "jobs.score", "--archive", "out/demo/archive", "--model", str(tmp_path / "model"),
                   "--out", str(tmp_path / "report"))
    state, logs = wait_job(cluster, study)
    assert state == "FAILED" and "storage: 'runs' is a relative path" in logs, logs[-3000:]
    state, logs = wait_job(cluster, score)
    assert state == "FAILED" and "--archive: 'out/demo/archive' is a relative path" in logs, logs[-3000:]


def test_scoring_survives_a_killed_worker_node(cluster, model, scoring_archive, tmp_path):
    report = tmp_path / "report"
    job = submit(cluster, "jobs.score", "--archive", scoring_archive, "--model", model, "--out",
                 str(report), "--batch-size", "4", "--workers", "1", "--no-progress")
    # wait until scoring is under way: the scorer actor's node found, and some batches written
    victim, deadline = None, time.monotonic() + 120
    while time.monotonic() < deadline:
        for node in cluster.nodes[1:]:
            if any("MapWorker" in cmd for _, cmd in node_processes(node)):
                victim = node
        if victim is not None and glob.glob(f"{report}.tmp-*/scans/*.parquet"):
            break
        time.sleep(0.1)
    assert victim is not None, ray_cli(cluster, "job", "logs", job, check=False)[-3000:]
    raylet = next(pid for pid, cmd in node_processes(victim) if "/raylet/raylet" in cmd)
    os.kill(raylet, signal.SIGKILL)  # the node dies: its `ray start` stops what is left of it
    assert not report.exists()  # killed mid-job, before the report was published
    state, logs = wait_job(cluster, job)
    assert state == "SUCCEEDED", logs[-3000:]
    rows = report_rows(str(report))
    assert len(rows) == len(set(rows)) == 160  # every file exactly once
    success = json.loads((report / "_SUCCESS").read_text())
    assert success["counts"]["files"] == 160 and success["counts"]["error"] == 0


def test_killed_study_driver_is_resumed_with_finished_trials_kept(cluster, study_archive, tmp_path):
    config = study_config(tmp_path, study_archive, "killed", epochs=2)
    run = locate(str(tmp_path / "runs" / "killed"))
    job = submit(cluster, "jobs.study", "--config", config, "--num-samples", "6")
    deadline, finished = time.monotonic() + 240, set()
    while time.monotonic() < deadline:  # kill the driver once the first trials have finished
        finished = {s.directory for s in load_statuses(run) if s.status == "TERMINATED"}
        if finished:
            break
        time.sleep(0.2)
    assert finished, ray_cli(cluster, "job", "logs", job, check=False)[-3000:]
    before = {d: run.read_bytes(f"{d}/result.json") for d in finished}
    # the job's entrypoint runs in a session of its own
    everything = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    drivers = [pid for pid, cmd in command_lines(everything) if "jobs.study" in cmd and config in cmd]
    assert drivers
    for pid in drivers:
        os.kill(pid, signal.SIGKILL)
    state, _ = wait_job(cluster, job)
    assert state == "FAILED"
    assert len({s.directory for s in load_statuses(run) if s.status == "TERMINATED"}) < 6  # interrupted
    state, logs = wait_job(cluster, submit(cluster, "jobs.study", "--config", config, "--resume"))
    assert state == "SUCCEEDED", logs[-3000:]
    statuses = load_statuses(run)
    assert len(statuses) == len({s.directory for s in statuses}) == 6  # no duplicates
    assert all(s.status == "TERMINATED" for s in statuses), statuses
    assert all(run.read_bytes(f"{d}/result.json") == before[d] for d in finished)  # kept as they were
    assert run.exists("best/model.pt")


def can_hide_paths() -> bool:
    """Whether a node can be given a mount namespace of its own here (root and `unshare`)."""
    try:
        return subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not can_hide_paths(), reason="a node that does not see a path needs `unshare --mount` "
                                                 "(root); not available here")
def test_a_job_whose_input_only_some_nodes_see_stops_before_any_work(cluster, model, study_archive,
                                                                     tmp_path):
    hidden = tmp_path / "head-only"
    shutil.copytree(study_archive, hidden / "archive")
    blind = add_worker(cluster.state_dir, cpus=1, hide=str(hidden))  # sees an empty tmpfs there
    try:
        config = study_config(tmp_path, str(hidden / "archive"), "hidden")
        report = tmp_path / "report"
        study = submit(cluster, "jobs.study", "--config", config)  # both at once: each stops before work
        score = submit(cluster, "jobs.score", "--archive", str(hidden / "archive"), "--model", model, "--out",
                       str(report), "--no-progress")
        state, logs = wait_job(cluster, study)
        assert state == "FAILED", logs[-3000:]
        archive = hidden / "archive"
        refusal = f"data.archive {archive}: node "
        assert refusal in logs and "sees nothing, the driver sees a directory" in logs, logs[-1500:]
        assert "storage all nodes share" in logs and not (tmp_path / "runs" / "hidden").exists()
        state, logs = wait_job(cluster, score)
        assert state == "FAILED" and "--archive" in logs and "sees nothing" in logs, logs[-3000:]
        assert not report.exists() and not glob.glob(f"{report}.tmp-*")
    finally:
        stop_nodes([blind])
