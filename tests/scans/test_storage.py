"""Archives on URIs: file:// and an S3-compatible server started on 127.0.0.1 by the test."""

from __future__ import annotations

import numpy as np
import pyarrow.fs as pafs

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


def test_s3_round_trip_with_atomic_writes(s3_bucket):
    uri = s3_bucket.format("archives/a1")
    synthesise(CONFIG, uri, workers=1, progress=False)
    archive = Archive(uri)
    assert len(archive) == 2 and archive.uri == "s3://scans/archives/a1"
    np.testing.assert_array_equal(archive.read("scan_000000").low, synth_scan(CONFIG, 0).low)
    root = locate(uri)
    names = [info.path for info in root.fs.get_file_info(pafs.FileSelector(root.path, recursive=True))]
    assert not [n for n in names if ".tmp-" in n], "temporary names are renamed away"
