"""Joining a cluster: no private Ray when a cluster was asked for; relative paths refused under a job."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from jobs.ray_connect import JOB_ENV_VAR, in_ray_job, refuse_relative_paths
from tests.smoke_study import REPO


def test_relative_paths_are_refused_only_inside_a_ray_job(monkeypatch):
    monkeypatch.delenv(JOB_ENV_VAR, raising=False)
    assert not in_ray_job()
    refuse_relative_paths({"storage": "out/runs"})  # a local run: relative to where it was started
    monkeypatch.setenv(JOB_ENV_VAR, "{}")
    refuse_relative_paths({"storage": "/shared/runs", "data.archive": "s3://bucket/archive",
                           "--model": "~/models/best", "--out": None})
    with pytest.raises(ValueError, match=r"data.archive: 'out/quality/archive' is a relative path.*"
                                         r"absolute path on storage every node shares.*URI"):
        refuse_relative_paths({"storage": "/shared/runs", "data.archive": "out/quality/archive"})


def test_joining_asks_for_an_existing_cluster_and_names_the_way_out(monkeypatch):
    import ray

    from jobs.ray_connect import NoClusterError, connect

    calls = []

    def no_cluster(**kwargs):
        calls.append(kwargs)
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", no_cluster)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(NoClusterError, match=r"no Ray cluster to join \(RAY_ADDRESS is unset.*--local"):
        connect(False)
    # "auto" joins or fails; None would start a private Ray. Worker output streams to the driver.
    assert calls[0]["address"] == "auto" and calls[0]["log_to_driver"] is True
    calls.clear()
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    connect(True)
    assert calls[0]["address"] == "local"


def test_joining_without_a_cluster_fails_instead_of_starting_one(tmp_path):
    # a fresh interpreter that sees no Ray: no bootstrap file in its temp dir, and Ray's scan for
    # running GCS processes (its legacy fallback for "auto") finds none, even while this suite's
    # own Ray runs on the machine
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = str(tmp_path)  # where `address="auto"` looks for a cluster: none there
    code = ("import functools\nimport ray\nimport ray._private.services as services\n"
            "services.find_gcs_addresses = functools.cache(lambda: [])\n"
            "from jobs.ray_connect import connect\ntry:\n    connect(False)\n"
            "except ConnectionError as err:\n    print('refused:', err)\n"
            "print('initialized', ray.is_initialized())")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert "refused: no Ray cluster to join" in done.stdout and "--local" in done.stdout, done.stderr
    assert "initialized False" in done.stdout


def test_study_command_refuses_a_relative_archive_under_a_job(tmp_path, monkeypatch, capsys):
    from jobs.study import get_args_parser, main

    config = tmp_path / "study.yaml"
    config.write_text("name: rel\nstorage: /shared/runs\ndata: {archive: out/archive}\n")
    monkeypatch.setenv(JOB_ENV_VAR, "{}")
    assert main(get_args_parser().parse_args(["--config", str(config)])) == 2
    assert "data.archive: 'out/archive' is a relative path" in capsys.readouterr().err
