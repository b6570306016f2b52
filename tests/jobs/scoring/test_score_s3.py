"""Scoring an archive held in an S3-compatible server on 127.0.0.1 (moto), the report written back."""

from __future__ import annotations

import json

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from jobs.scoring.run import ScoreOptions, run_scoring
from scans.storage import locate
from tests.pictures import drawn_png

pytestmark = pytest.mark.slow


def test_an_archive_in_s3_is_scored_into_a_report_in_s3(ray_session, s3_bucket, small_archive, model_dir):
    archive, report = locate(s3_bucket.format("archive")), locate(s3_bucket.format("reports/one"))
    s3 = archive.fs
    pafs.copy_files(small_archive, archive.path, destination_filesystem=s3)
    success = run_scoring(ScoreOptions(archive=s3_bucket.format("archive"), model=model_dir,
                                       out=s3_bucket.format("reports/one"), batch_size=4, progress=False,
                                       overlays=1))
    counts = success["counts"]
    assert (counts["files"], counts["ok"], counts["error"]) == (6, 6, 0)
    names = {i.path for i in s3.get_file_info(pafs.FileSelector("scans/reports", recursive=True))}
    assert f"{report.path}/_SUCCESS" in names
    assert not any(".tmp-" in n for n in names)  # the temporary report is gone
    assert json.loads(report.read_bytes("_SUCCESS"))["counts"] == counts
    scans = pq.read_table(report.join("scans"), filesystem=s3)
    assert scans.num_rows == 6 and set(scans.column("status").to_pylist()) == {"ok"}
    assert all(s.startswith("s3://scans/archive/scans/") and "?" not in s  # no endpoint in reports
               for s in scans.column("source").to_pylist())
    segments = pq.read_table(report.join("segments"), filesystem=s3)
    assert segments.num_rows == sum(scans.column("n_segments").to_pylist())
    overlay = next(n for n in names if "/overlays/" in n)
    with s3.open_input_stream(overlay) as f:
        drawn_png(f.read(), min_side=64)
