"""The cluster tests' shared cluster (a head and two worker nodes, up while tests/cluster's tests run
and stopped after the last: every test module adds and stops what else it needs) and the study job
whose best model the scoring tests score."""

from __future__ import annotations

import os

import pytest

from tests.cluster.jobs import running_cluster, study_config, submit, wait_job


@pytest.fixture(scope="package")
def cluster(tmp_path_factory):
    """A head and two worker nodes of 2 CPUs each."""
    yield from running_cluster(tmp_path_factory, workers=2, cpus_per_worker=2)


@pytest.fixture(scope="package")
def study_job(cluster, study_archive, tmp_path_factory) -> tuple[str, str]:
    """The smoke study, submitted as a job: its run directory and its logs (its best model is what
    the scoring tests score)."""
    tmp_path = tmp_path_factory.mktemp("e2e")
    config = study_config(tmp_path, study_archive, "e2e")
    state, logs = wait_job(cluster, submit(cluster, "jobs.study", "--config", config))
    assert state == "SUCCEEDED", logs[-3000:]
    return str(tmp_path / "runs" / "e2e"), logs


@pytest.fixture(scope="package")
def model(study_job) -> str:
    """A model trained by a study job on the cluster: its RUN_DIR/best."""
    return os.path.join(study_job[0], "best")
