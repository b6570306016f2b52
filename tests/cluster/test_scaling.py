"""Scorers that follow the cluster: a worker node added while a scoring job runs gets scoring actors."""

from __future__ import annotations

import json
import time

import pytest

from jobs.local_cluster import add_worker, stop_nodes
from scans.synth import SynthConfig, synthesise
from tests.cluster.jobs import node_processes, ray_cli, submit, wait_job

pytestmark = pytest.mark.slow


# each scoring actor asks for one slot; a node holds two: the first node cannot take a third actor,
# so a pool that grows past two must grow onto the added node (0.5-CPU actors alone would fit a
# third onto the first node's 2 CPUs, and Ray sometimes put it there). The shared cluster's own
# workers hold no slots: the test adds the first node with two, and later the second.
SLOT = "scorer_slot"
# the scorers take 2 s more a batch until the test opens the gate (tests/cluster/drills.py): 150
# batches on the first node's two actors take 150 s, against the 30-55 s the pool took to grow, on
# any machine; once it has grown the rest goes at the model's speed
SCANS = 300


def scorers_on(node) -> int:
    """How many scoring actors run on ``node`` now."""
    return sum("MapWorker" in cmd and "Scorer" in cmd for _, cmd in node_processes(node))


def test_scorer_pool_grows_onto_a_node_added_mid_job(cluster, model, tmp_path):
    first = add_worker(cluster.state_dir, cpus=2, resources={SLOT: 2})
    try:
        grow_onto_an_added_node(cluster, model, first, tmp_path)
    finally:
        stop_nodes([first], grace_s=2.0)


def grow_onto_an_added_node(cluster, model: str, first, tmp_path) -> None:
    archive = str(tmp_path / "archive")
    synthesise(SynthConfig(n=SCANS, size=64, seed=5, split=0.5, val=0.0), archive, workers=2, progress=False)
    report, gate = tmp_path / "report", tmp_path / "gate"
    job = submit(cluster, "tests.cluster.drills", str(gate), "--", "--archive", archive, "--model", model,
                 "--out", str(report), "--batch-size", "2", "--max-workers", "3",
                 "--worker-resource", f"{SLOT}=1", "--no-progress")
    added, timeline = None, []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not scorers_on(first):
            time.sleep(0.2)
        assert scorers_on(first), ray_cli(cluster, "job", "logs", job, check=False)[-3000:]
        added = add_worker(cluster.state_dir, cpus=2, resources={SLOT: 2})
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            timeline.append((scorers_on(first), scorers_on(added)))
            if timeline[-1][1] and sum(timeline[-1]) > 2:  # more actors than the first node holds
                break
            time.sleep(0.5)
        assert not report.exists()  # the drill held the job: it was still running all along
    finally:
        gate.write_text("open")  # the scorers go on, whatever happened
    try:
        state, logs = wait_job(cluster, job)
        grown = next((i for i, (on_first, on_added) in enumerate(timeline)
                      if on_added and on_first + on_added > 2), None)
        print(f"scorer actors (first node, added node) every 0.5 s after the node joined: {timeline}; "
              f"the pool grew onto the added node after {grown and grown * 0.5} s")
        # the pool grew onto it: an actor there beside the first node's full two (not one moved there)
        assert grown is not None, (timeline, logs[-3000:])
        assert state == "SUCCEEDED", logs[-3000:]
        success = json.loads((report / "_SUCCESS").read_text())
        assert success["counts"]["files"] == success["counts"]["ok"] == SCANS
        assert (success["config"]["min_workers"], success["config"]["max_workers"]) == (1, 3)
        assert success["config"]["worker_resources"] == {SLOT: 1.0}
    finally:
        if added is not None:
            stop_nodes([added], grace_s=2.0)
