"""Scorers that follow the cluster: a worker node added while a scoring job runs gets scoring actors."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import yaml

from jobs.local_cluster import add_worker, stop_nodes
from scans.synth import SynthConfig, synthesise
from tests.cluster.test_local_cluster import node_processes, ray_cli, running_cluster, submit, wait_job
from tests.smoke_study import REPO, smoke

pytestmark = pytest.mark.slow


# each scoring actor asks for one slot; a node holds two: the first node cannot take a third actor,
# so a pool that grows past two must grow onto the added node (0.5-CPU actors alone would fit a
# third onto the first node's 2 CPUs, and Ray sometimes put it there)
SLOT = "scorer_slot"
# long enough that the pool grows before the job ends (17-34 s to grow onto an added node) on
# machines scoring 14 to 39 scans/s, short enough for CI: 145-50 s
SCANS = 2000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head without CPUs for work and one worker node of 2 CPUs and two scorer slots."""
    yield from running_cluster(tmp_path_factory, workers=1, cpus_per_worker=2, resources_per_worker={SLOT: 2})


@pytest.fixture(scope="module")
def heavy_model(study_archive, tmp_path_factory) -> str:
    """A model whose scoring costs far more than decoding a scan (SSN at 160², K 120), so that the
    actors, not the decode tasks, are what the job waits for; trained without Ray."""
    tmp = tmp_path_factory.mktemp("heavy-model")
    config = tmp / "heavy.yaml"
    settings = smoke(study_archive, tmp / "runs", "heavy", space={"modalities": ["pseudo"]})
    settings["data"]["image_size"] = 160
    config.write_text(yaml.safe_dump(settings))
    command = [sys.executable, "-m", "jobs.cli", "train", "--config", str(config), "--epochs", "1",
               "--k", "120",
               "--out", str(tmp / "model")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return str(tmp / "model")


def scorers_on(node) -> int:
    """How many scoring actors run on ``node`` now."""
    return sum("MapWorker" in cmd and "Scorer" in cmd for _, cmd in node_processes(node))


def test_scorer_pool_grows_onto_a_node_added_mid_job(cluster, heavy_model, tmp_path):
    # SCANS take 50-145 s on the first node's two actors (14 to 39 scans/s measured on machines like
    # this one), against the 17-34 s the pool took to grow onto an added node; 1500 scans took 38 s
    # on the faster one, which ended the job before the pool grew
    archive = str(tmp_path / "archive")
    synthesise(SynthConfig(n=SCANS, size=64, seed=5, split=0.5, val=0.0), archive, workers=1, progress=False)
    report = tmp_path / "report"
    job = submit(cluster, "jobs.score", "--archive", archive, "--model", heavy_model, "--out", str(report),
                 "--batch-size", "2", "--max-workers", "3", "--worker-resource", f"{SLOT}=1", "--no-progress")
    first = cluster.nodes[1]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not scorers_on(first):
        time.sleep(0.2)
    assert scorers_on(first), ray_cli(cluster, "job", "logs", job, check=False)[-3000:]
    added = add_worker(cluster.state_dir, cpus=2, resources={SLOT: 2})
    try:
        deadline, timeline = time.monotonic() + 240, []
        while time.monotonic() < deadline:
            timeline.append((scorers_on(first), scorers_on(added)))
            if timeline[-1][1] or report.exists():
                break
            time.sleep(0.5)
        state, logs = wait_job(cluster, job)
        first_seen = next((i for i, (_, n) in enumerate(timeline) if n), None)
        print(f"scorer actors (first node, added node) every 0.5 s after the node joined: {timeline}; "
              f"first actor on the added node after {first_seen and first_seen * 0.5} s")
        assert any(on_added for _, on_added in timeline), (timeline, logs[-3000:])  # the pool grew onto it
        assert state == "SUCCEEDED", logs[-3000:]
        success = json.loads((report / "_SUCCESS").read_text())
        assert success["counts"]["files"] == success["counts"]["ok"] == SCANS
        assert (success["config"]["min_workers"], success["config"]["max_workers"]) == (1, 3)
        assert success["config"]["worker_resources"] == {SLOT: 1.0}
    finally:
        stop_nodes([added])
