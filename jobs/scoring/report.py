"""Report v1 assembly: staged rows split into scans/ and segments/ parts, counted, published atomically."""

from __future__ import annotations

import heapq
import json
from dataclasses import asdict, dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from jobs.scoring.schema import SCANS_SCHEMA, SEGMENT_FIELDS, SEGMENTS_SCHEMA, staged_name, with_metadata
from scans.storage import Location

SUCCESS = "_SUCCESS"
STAGING = "_staging"


class ReportError(RuntimeError):
    """The scored rows do not add up to the inputs (a file lost or doubled), or the output is unsafe."""


@dataclass
class Counts:
    """What a report holds: input files, ok and error rows, scans flagged anomalous."""

    files: int = 0
    ok: int = 0
    error: int = 0
    anomalous: int = 0


@dataclass
class Assembly:
    """The outcome of splitting the staged rows: counts and the top-scoring ok scans."""

    counts: Counts = field(default_factory=Counts)
    top: list[tuple[float, str, str]] = field(default_factory=list)  # (score, source, scan_id), best first


def check_output(out: Location, archive: Location) -> None:
    """Refuse an output that would overwrite the archive or a directory that is not a report."""
    a, o = archive.path.rstrip("/") + "/", out.path.rstrip("/") + "/"
    if type(out.fs) is type(archive.fs) and (o.startswith(a) or a.startswith(o)):
        raise ReportError(f"{out.uri}: the report cannot be written inside the archive {archive.uri} "
                          "or over it")
    info = out.fs.get_file_info(out.path)
    if info.type == pafs.FileType.File:
        raise ReportError(f"{out.uri}: is a file; the report needs a directory")
    if info.type == pafs.FileType.Directory and not out.exists(SUCCESS):
        entries = out.fs.get_file_info(pafs.FileSelector(out.path))
        if entries:
            raise ReportError(f"{out.uri}: exists and is not a DualScan report (no {SUCCESS}); "
                              "refusing to replace it — choose another --out")


def _explode(staged: pa.Table) -> pa.Table:
    """The segments table of staged rows: one row per list element, with its scan's id."""
    first = staged.column(staged_name(SEGMENT_FIELDS[0].name))
    parents = pc.list_parent_indices(first)
    columns = {"scan_id": pc.take(staged.column("scan_id"), parents)}
    for f in SEGMENT_FIELDS:
        columns[f.name] = pc.list_flatten(staged.column(staged_name(f.name)))
    return pa.table(columns).cast(SEGMENTS_SCHEMA)


def assemble(tmp: Location, metadata: dict[str, str], expected: set[tuple[str, str]], top_n: int) -> Assembly:
    """Rewrite ``tmp/_staging`` as ``tmp/scans/part-*.parquet`` and ``tmp/segments/part-*.parquet``
    (with the report metadata), one staged file at a time, and check that every expected input
    (scan_id, source) has exactly one row."""
    scans_schema, segments_schema = with_metadata(SCANS_SCHEMA, metadata), with_metadata(SEGMENTS_SCHEMA,
                                                                                          metadata)
    staged = sorted(i.path for i in tmp.fs.get_file_info(pafs.FileSelector(tmp.join(STAGING), recursive=True))
                    if i.is_file and i.path.endswith(".parquet"))
    tmp.makedirs("scans")
    tmp.makedirs("segments")
    result, seen, heap = Assembly(), set(), []
    for index, path in enumerate(staged):
        with tmp.fs.open_input_file(path) as source:
            parquet = pq.ParquetFile(source)
            part = f"part-{index:05d}.parquet"
            scans_path, segments_path = tmp.join("scans", part), tmp.join("segments", part)
            with pq.ParquetWriter(scans_path, scans_schema, filesystem=tmp.fs) as scans_out, \
                    pq.ParquetWriter(segments_path, segments_schema, filesystem=tmp.fs) as segments_out:
                for batch in parquet.iter_batches():
                    table = pa.Table.from_batches([batch])
                    scans = table.select(SCANS_SCHEMA.names).cast(scans_schema)
                    scans_out.write_table(scans)
                    segments_out.write_table(_explode(table).cast(segments_schema))
                    _count(scans, result.counts, seen, heap, top_n)
    tmp.fs.delete_dir(tmp.join(STAGING))
    missing, extra = expected - seen, seen - expected  # no key is doubled: _count refuses those
    if missing or extra:
        raise ReportError(f"the scored rows do not match the inputs: {result.counts.files} rows for "
                          f"{len(expected)} files; missing {sorted(missing)[:5]}, "
                          f"unexpected {sorted(extra)[:5]}")
    result.top = sorted(heap, reverse=True)
    return result


def _count(scans: pa.Table, counts: Counts, seen: set[tuple[str, str]], heap: list, top_n: int) -> None:
    rows = scans.select(["scan_id", "source", "status", "score", "is_anomalous"]).to_pylist()
    for row in rows:
        key = (row["scan_id"], row["source"])
        if key in seen:
            raise ReportError(f"{row['source']}: scored twice; a retried task doubled its rows")
        seen.add(key)
        counts.files += 1
        if row["status"] == "ok":
            counts.ok += 1
            counts.anomalous += bool(row["is_anomalous"])
            if top_n > 0:
                entry = (float(row["score"]), row["source"], row["scan_id"])
                (heapq.heappush if len(heap) < top_n else heapq.heappushpop)(heap, entry)
        else:
            counts.error += 1


def write_success(tmp: Location, counts: Counts, details: dict) -> dict:
    """_SUCCESS (JSON: counts, timings, model, config), the last file of a report."""
    content = {"report_version": 1, "counts": asdict(counts), **details}
    tmp.write_bytes(SUCCESS, (json.dumps(content, indent=2, sort_keys=True, default=str) + "\n").encode())
    return content


def publish(tmp: Location, out: Location) -> None:
    """Move the finished report from its temporary name to ``out``, replacing an earlier report: a
    rename on a local disk; on object stores a copy with _SUCCESS last, then the temporary deleted."""
    if out.exists():
        out.remove_tree()
    if isinstance(out.fs, pafs.LocalFileSystem):
        out.fs.create_dir(out.path.rsplit("/", 1)[0], recursive=True)
        out.fs.move(tmp.path, out.path)
        return
    files = [i for i in tmp.fs.get_file_info(pafs.FileSelector(tmp.path, recursive=True)) if i.is_file]
    for info in sorted(files, key=lambda i: i.base_name == SUCCESS):
        relative = info.path[len(tmp.path.rstrip("/")) + 1:]
        out.fs.create_dir(out.join(*relative.split("/")[:-1]), recursive=True)
        out.fs.copy_file(info.path, out.join(relative))
    tmp.remove_tree()
