"""Archives on URIs: file:// and an S3-compatible server started on 127.0.0.1 by the test."""

from __future__ import annotations

import socket

import numpy as np
import pyarrow.fs as pafs
import pytest

from scans.archive import Archive
from scans.storage import locate
from scans.synth import SynthConfig, synth_scan, synthesise

CONFIG = SynthConfig(n=2, size=48, seed=5)


def test_file_uri_round_trip(tmp_path):
    uri = f"file://{tmp_path}/arch"
    synthesise(CONFIG, uri, workers=1, progress=False)
    archive = Archive(uri)
    assert archive.file_uri(archive.scan_ids[0]).startswith("file://")
    np.testing.assert_array_equal(archive.read("scan_000001").high, synth_scan(CONFIG, 1).high)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_bucket(monkeypatch):
    """A moto S3 server on 127.0.0.1 with one bucket; stopped whatever the outcome."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=f"http://{endpoint}").create_bucket(Bucket="scans")
        yield f"s3://scans/{{}}?endpoint_override={endpoint}&scheme=http&region=us-east-1"
    finally:
        server.stop()


def test_s3_round_trip_with_atomic_writes(s3_bucket):
    uri = s3_bucket.format("archives/a1")
    synthesise(CONFIG, uri, workers=1, progress=False)
    archive = Archive(uri)
    assert len(archive) == 2 and archive.uri == "s3://scans/archives/a1"
    np.testing.assert_array_equal(archive.read("scan_000000").low, synth_scan(CONFIG, 0).low)
    root = locate(uri)
    names = [info.path for info in root.fs.get_file_info(pafs.FileSelector(root.path, recursive=True))]
    assert not [n for n in names if ".tmp-" in n], "temporary names are renamed away"
