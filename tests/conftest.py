"""Shared fixtures: one small synthetic archive per test session."""

from __future__ import annotations

import os

import pytest

from scans.synth import SynthConfig, synthesise

# world 1: the item finder's test measured what it must find there (and the item-first fixture below:
# a few steps' item stage finds world 1's items); the study archive is world 2, split by model
SMALL = SynthConfig(n=6, size=96, seed=3, split=0.5, val=0.0, world=1)
S3_TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory) -> str:
    """A 6-scan world-1 archive at 96² written once per session."""
    out = tmp_path_factory.mktemp("archive") / "small"
    synthesise(SMALL, str(out), workers=1, progress=False)
    return str(out)


@pytest.fixture(scope="session")
def small_archive_val(tmp_path_factory) -> str:
    """A 10-scan world-1 archive at 96² with train, val and test (4/2/4), for item-first tests (their
    tiny item stages find world 1's items)."""
    out = tmp_path_factory.mktemp("archive") / "small_val"
    synthesise(SynthConfig(n=10, size=96, seed=5, split=0.6, val=0.2, world=1), str(out), workers=1,
               progress=False)
    return str(out)


@pytest.fixture(scope="session")
def study_archive(tmp_path_factory) -> str:
    """A 20-scan world-2 archive at 64², 8 train, 4 val, 8 test, for training and study tests."""
    out = tmp_path_factory.mktemp("archive") / "study"
    synthesise(SynthConfig(n=20, size=64, seed=7, split=0.6, val=0.2), str(out), workers=1, progress=False)
    return str(out)


@pytest.fixture(scope="session")
def ray_session():
    """One Ray instance for the whole test session (2 CPUs, no dashboard), shut down at the end."""
    os.environ.setdefault("RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "0")
    # Ray workers inherit this environment: fake credentials (never real ones) let them sign requests
    # to the loopback S3 server that S3 tests start, and no one asks a cloud metadata service
    for key, value in S3_TEST_ENV.items():
        os.environ.setdefault(key, value)
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_config=ray.LoggingConfig(log_level="WARNING"))
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture
def s3_bucket(monkeypatch):
    """A moto S3 server on 127.0.0.1 with the bucket `scans`, stopped whatever the outcome; yields
    a URI template: ``s3_bucket.format("some/prefix")``."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    for key, value in S3_TEST_ENV.items():
        monkeypatch.setenv(key, value)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()  # binds a port of the system's choosing: no other process can take it first
    try:
        endpoint = "{}:{}".format(*server.get_host_and_port())
        boto3.client("s3", endpoint_url=f"http://{endpoint}").create_bucket(Bucket="scans")
        yield f"s3://scans/{{}}?endpoint_override={endpoint}&scheme=http&region=us-east-1"
    finally:
        server.stop()


def pytest_addoption(parser):
    parser.addoption("--fuzz-n", type=int, default=None, metavar="N",
                     help="mutated files the fuzz suite reads (default: DUALSCAN_FUZZ_N, else 300)")


@pytest.fixture(scope="session")
def fuzz_n(request) -> int:
    """How many mutated files the fuzz suite reads: --fuzz-n, else DUALSCAN_FUZZ_N, else 300."""
    value = request.config.getoption("--fuzz-n") or os.environ.get("DUALSCAN_FUZZ_N") or 300
    return int(value)
