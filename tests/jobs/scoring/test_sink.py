"""The report's writer without Ray: a write task's parts and manifest, and the driver's exactly-once
check from manifests alone (lost, doubled and abandoned parts)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.scoring.batches import Scorer
from jobs.scoring.report import ReportError, finish_parts
from jobs.scoring.schema import SCANS_SCHEMA, SEGMENTS_SCHEMA
from jobs.scoring.sink import ReportSink, keys_fingerprint
from scans.storage import locate

METADATA = {"dualscan.report_version": "1", "dualscan.model_sha256": "abc"}


def _staged(model_dir: str, names: list[str], broken: str | None = None) -> pa.Table:
    """The Scorer's rows for scans ``names`` (``broken`` an error row)."""
    rng = np.random.default_rng(len(names))
    n = len(names)
    batch = {"scan_id": np.array(names, dtype=object), "source": np.array([f"s/{x}.npz" for x in names]),
             "image": rng.uniform(0, 1, (n, 3, 64, 64)).astype(np.float32),
             "height": np.full(n, 64), "width": np.full(n, 64),
             "error": np.array([f"s/{x}.npz: broken" if x == broken else "" for x in names], dtype=object),
             "decode_ms": np.ones(n, np.float32)}
    return Scorer(model_dir, threshold=0.5)(batch)


def _write(sink: ReportSink, tables: list[pa.Table], task: int = 0):
    sink.on_write_start()
    return sink.write(tables, SimpleNamespace(task_idx=task))


def test_a_write_task_writes_both_tables_and_a_manifest(model_dir, tmp_path):
    tmp = locate(str(tmp_path / "report.tmp"))
    sink = ReportSink(tmp, METADATA, top_n=2)
    manifest = _write(sink, [_staged(model_dir, ["a", "b"], broken="b"), _staged(model_dir, ["c"])])
    assert (manifest.rows, manifest.ok, manifest.error) == (3, 2, 1)
    scans = pq.read_table(tmp_path / "report.tmp" / "scans" / manifest.part)
    segments = pq.read_table(tmp_path / "report.tmp" / "segments" / manifest.part)
    assert scans.schema.remove_metadata() == SCANS_SCHEMA
    assert segments.schema.remove_metadata() == SEGMENTS_SCHEMA
    assert scans.schema.metadata[b"dualscan.model_sha256"] == b"abc"
    assert scans.column("scan_id").to_pylist() == ["a", "b", "c"]
    n_segments = scans.column("n_segments").to_pylist()
    assert manifest.segments == segments.num_rows == n_segments[0] + n_segments[2]
    assert set(segments.column("scan_id").to_pylist()) == {"a", "c"}
    assert [entry[2] for entry in sorted(manifest.top, reverse=True)] == sorted(
        ["a", "c"], key=lambda s: -scans.to_pandas().set_index("scan_id").score[s])
    assert manifest.keys == keys_fingerprint([("a", "s/a.npz"), ("b", "s/b.npz"), ("c", "s/c.npz")])
    assert _write(sink, [], task=1).part is None  # a task without rows writes no files


def test_finishing_checks_exactly_once_and_drops_abandoned_attempts(model_dir, tmp_path):
    tmp = locate(str(tmp_path / "report.tmp"))
    sink = ReportSink(tmp, METADATA, top_n=1)
    first = _write(sink, [_staged(model_dir, ["a", "b"])])
    second = _write(sink, [_staged(model_dir, ["c"])], 1)
    abandoned = _write(sink, [_staged(model_dir, ["c"])], 1)  # a retried task's first attempt
    expected = [("a", "s/a.npz"), ("b", "s/b.npz"), ("c", "s/c.npz")]
    result = finish_parts(tmp, [first, second], expected, top_n=1)
    assert (result.counts.files, result.counts.ok, result.counts.error) == (3, 3, 0)
    assert len(result.top) == 1 and result.top[0] == max(first.top + second.top)
    left = sorted(p.name for p in (tmp_path / "report.tmp" / "scans").iterdir())
    assert left == sorted([first.part, second.part]) and abandoned.part not in left
    assert not (tmp_path / "report.tmp" / "segments" / abandoned.part).exists()
    with pytest.raises(ReportError, match=r"3 rows for 4 files; missing \[\('d', 's/d.npz'\)\]"):
        finish_parts(tmp, [first, second], [*expected, ("d", "s/d.npz")], top_n=1)


def test_finishing_names_a_doubled_input(model_dir, tmp_path):
    tmp = locate(str(tmp_path / "report.tmp"))
    sink = ReportSink(tmp, METADATA, top_n=0)
    parts = [_write(sink, [_staged(model_dir, ["a", "b"])]), _write(sink, [_staged(model_dir, ["b"])], 1)]
    with pytest.raises(ReportError, match=r"s/b.npz: scored twice"):
        finish_parts(tmp, parts, [("a", "s/a.npz"), ("b", "s/b.npz")], top_n=0)
