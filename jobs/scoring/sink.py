"""The report's writer on the cluster: each write task splits its scored rows into a `scans`, a
`segments` and an `items` part file and returns a small manifest; the driver never holds or
re-reads the rows."""

from __future__ import annotations

import hashlib
import heapq
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from ray.data import Datasink
from ray.data.block import Block, BlockAccessor

from jobs.scoring.schema import (
    ITEM_FIELDS,
    ITEMS_SCHEMA,
    REPORT_TABLES,
    SCANS_SCHEMA,
    SEGMENT_FIELDS,
    SEGMENTS_SCHEMA,
    STAGED_SCHEMA,
    staged_item_name,
    staged_name,
    with_metadata,
)
from scans.storage import Location

KEY_SPACE = 1 << 64
# (score, source, scan_id, item_id, x0, y0, x1, y1): one flagged item, as a write task's manifest keeps it
TopItem = tuple[float, str, str, int, int, int, int, int]


def key_hash(scan_id: str, source: str) -> int:
    """A 64-bit hash of one input's key (scan_id, source); their sum mod 2⁶⁴ fingerprints a set of
    inputs without holding it: a lost or doubled row changes the sum."""
    digest = hashlib.blake2b(f"{scan_id}\0{source}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def keys_fingerprint(keys: Iterable[tuple[str, str]]) -> int:
    """The sum mod 2⁶⁴ of ``key_hash`` over ``keys``."""
    return sum(key_hash(scan_id, source) for scan_id, source in keys) % KEY_SPACE


@dataclass
class PartManifest:
    """What one write task wrote: its part file's name (under scans/ and segments/, none when the
    task had no rows), its counts, the fingerprint of its keys and its top-scoring ok scans."""

    part: str | None = None
    rows: int = 0
    ok: int = 0
    error: int = 0
    anomalous: int = 0
    segments: int = 0
    keys: int = 0
    top: list[tuple[float, str, str]] = field(default_factory=list)  # (score, source, scan_id)
    # with labels, the worst misses: truly benign scans scoring highest, truly anomalous lowest
    # (score negated: a min-heap keeps the lowest scores)
    highest_benign: list[tuple[float, str, str]] = field(default_factory=list)
    lowest_anomalous: list[tuple[float, str, str]] = field(default_factory=list)
    # report v2: the top flagged items (score, source, scan_id, item_id, x0, y0, x1, y1)
    top_items: list[TopItem] = field(default_factory=list)


def _keep(heap: list, entry: tuple, n: int) -> None:
    """Keep the ``n`` largest entries in the min-heap ``heap``."""
    (heapq.heappush if len(heap) < n else heapq.heappushpop)(heap, entry)


def _explode(staged: pa.Table, fields: list[pa.Field], name_of, schema: pa.Schema) -> pa.Table:
    """One row per list element of the staged columns of ``fields``, with its scan's id."""
    parents = pc.list_parent_indices(staged.column(name_of(fields[0].name)))
    columns = {"scan_id": pc.take(staged.column("scan_id"), parents)}
    for f in fields:
        columns[f.name] = pc.list_flatten(staged.column(name_of(f.name)))
    return pa.table(columns).cast(schema)


def explode_segments(staged: pa.Table) -> pa.Table:
    """The segments table of staged rows: one row per list element, with its scan's id."""
    return _explode(staged, SEGMENT_FIELDS, staged_name, SEGMENTS_SCHEMA)


def explode_items(staged: pa.Table) -> pa.Table:
    """The items table of staged rows: one row per found item, with its scan's id."""
    return _explode(staged, ITEM_FIELDS, staged_item_name, ITEMS_SCHEMA)


def count_rows(scans: pa.Table, manifest: PartManifest, top_n: int,
               truth: dict[str, bool] | None = None) -> None:
    """Add the rows of ``scans`` to ``manifest``: counts, key fingerprint, the top ``top_n`` and,
    where ``truth`` (source → is anomalous) labels a scan, the ``top_n`` worst misses of each kind."""
    rows = scans.select(["scan_id", "source", "status", "score", "is_anomalous"]).to_pylist()
    truth = truth or {}
    for row in rows:
        manifest.rows += 1
        manifest.keys = (manifest.keys + key_hash(row["scan_id"], row["source"])) % KEY_SPACE
        if row["status"] == "ok":
            manifest.ok += 1
            manifest.anomalous += bool(row["is_anomalous"])
            if top_n > 0:
                score, key = float(row["score"]), (row["source"], row["scan_id"])
                _keep(manifest.top, (score, *key), top_n)
                if truth.get(row["source"]) is False:
                    _keep(manifest.highest_benign, (score, *key), top_n)
                elif truth.get(row["source"]) is True:
                    _keep(manifest.lowest_anomalous, (-score, *key), top_n)
        else:
            manifest.error += 1


def count_items(staged: pa.Table, items: pa.Table, manifest: PartManifest, top_n: int) -> None:
    """Keep in ``manifest`` the ``top_n`` highest-scoring flagged items among ``items`` (the exploded
    items of the ``staged`` rows), each with its scan's source."""
    if top_n <= 0 or items.num_rows == 0:
        return
    parents = pc.list_parent_indices(staged.column(staged_item_name("score")))
    sources = pc.take(staged.column("source"), parents)
    flagged = pc.fill_null(items.column("is_anomalous"), False)
    chosen = items.append_column("source", sources).filter(flagged)
    for row in chosen.select(["score", "source", "scan_id", "item_id", "x0", "y0", "x1", "y1"]).to_pylist():
        _keep(manifest.top_items, (float(row["score"]), *list(row.values())[1:]), top_n)


class ReportSink(Datasink[PartManifest]):
    """Writes scored rows as ``tmp/scans/<part>``, ``tmp/segments/<part>`` and ``tmp/items/<part>``
    (report metadata in each file's schema), one set per write task, named uniquely per attempt:
    a retried task's abandoned attempt leaves files no manifest names, and ``manifests`` (on the
    driver, after the write) names only those that count."""

    def __init__(self, tmp: Location, metadata: dict[str, str], top_n: int,
                 truth: dict[str, bool] | None = None, counter=None):
        self.tmp = tmp
        self.truth = truth or {}
        self.counter = counter  # a ScanCounter actor, told how many scans each block wrote
        self.scans_schema = with_metadata(SCANS_SCHEMA, metadata)
        self.segments_schema = with_metadata(SEGMENTS_SCHEMA, metadata)
        self.items_schema = with_metadata(ITEMS_SCHEMA, metadata)
        self.top_n = top_n
        self.manifests: list[PartManifest] = []

    def on_write_start(self, schema: pa.Schema | None = None) -> None:
        for table in REPORT_TABLES:
            self.tmp.makedirs(table)

    def write(self, blocks: Iterable[Block], ctx) -> PartManifest:
        manifest = PartManifest()
        part = f"part-{ctx.task_idx:05d}-{uuid.uuid4().hex[:12]}.parquet"
        writers: tuple[pq.ParquetWriter, pq.ParquetWriter, pq.ParquetWriter] | None = None
        try:
            for block in blocks:
                table = BlockAccessor.for_block(block).to_arrow()
                if table.num_rows == 0:
                    continue
                staged = table.select(STAGED_SCHEMA.names).cast(STAGED_SCHEMA)
                if writers is None:
                    writers = (pq.ParquetWriter(self.tmp.join("scans", part), self.scans_schema,
                                                filesystem=self.tmp.fs),
                               pq.ParquetWriter(self.tmp.join("segments", part), self.segments_schema,
                                                filesystem=self.tmp.fs),
                               pq.ParquetWriter(self.tmp.join("items", part), self.items_schema,
                                                filesystem=self.tmp.fs))
                scans = staged.select(SCANS_SCHEMA.names).cast(self.scans_schema)
                segments = explode_segments(staged).cast(self.segments_schema)
                writers[0].write_table(scans)
                writers[1].write_table(segments)
                items = explode_items(staged).cast(self.items_schema)
                writers[2].write_table(items)
                count_items(staged, items, manifest, self.top_n)
                manifest.segments += segments.num_rows
                count_rows(scans, manifest, self.top_n, self.truth)
                if self.counter is not None:
                    self.counter.add.remote(scans.num_rows)
        finally:
            if writers is not None:
                for writer in writers:
                    writer.close()
        manifest.part = part if writers is not None else None
        return manifest

    def on_write_complete(self, write_result) -> None:
        self.manifests = list(write_result.write_returns)
