"""Scoring an archive held in an S3-compatible server on 127.0.0.1 (moto), the report written back."""

from __future__ import annotations

import json
import socket

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from jobs.scoring.run import ScoreOptions, run_scoring

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_endpoint(ray_session):
    """A moto S3 server on 127.0.0.1, stopped in every outcome; yields the URI query to reach it."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    finally:
        server.stop()


def test_an_archive_in_s3_is_scored_into_a_report_in_s3(s3_endpoint, small_archive, model_dir):
    s3 = pafs.S3FileSystem(endpoint_override=s3_endpoint.split("&")[0].split("=")[1], scheme="http",
                           region="us-east-1", allow_bucket_creation=True)
    s3.create_dir("bags")
    pafs.copy_files(small_archive, "bags/archive", destination_filesystem=s3)
    success = run_scoring(ScoreOptions(archive=f"s3://bags/archive?{s3_endpoint}", model=model_dir,
                                       out=f"s3://bags/reports/one?{s3_endpoint}", batch_size=4,
                                       progress=False, overlays=1))
    assert success["counts"] == {"files": 6, "ok": 6, "error": 0, "anomalous": success["counts"]["anomalous"]}
    names = {i.path for i in s3.get_file_info(pafs.FileSelector("bags/reports", recursive=True))}
    assert "bags/reports/one/_SUCCESS" in names
    assert not any(".tmp-" in n for n in names)  # the temporary report is gone
    with s3.open_input_stream("bags/reports/one/_SUCCESS") as f:
        assert json.loads(f.read())["counts"] == success["counts"]
    scans = pq.read_table("bags/reports/one/scans", filesystem=s3)
    assert scans.num_rows == 6 and set(scans.column("status").to_pylist()) == {"ok"}
    assert all(s.startswith("s3://bags/archive/scans/") and "?" not in s
               for s in scans.column("source").to_pylist())
    segments = pq.read_table("bags/reports/one/segments", filesystem=s3)
    assert segments.num_rows == sum(scans.column("n_segments").to_pylist())
    overlay = next(n for n in names if "/overlays/" in n)
    with s3.open_input_stream(overlay) as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
