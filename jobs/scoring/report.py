"""Report finishing: the write tasks' parts checked from their manifests, then published atomically."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from jobs.scoring.schema import REPORT_TABLES, REPORT_VERSION
from jobs.scoring.sink import KEY_SPACE, PartManifest, TopItem, keys_fingerprint
from scans.storage import Location

SUCCESS = "_SUCCESS"


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
    """The outcome of the write: counts and the top-scoring ok scans."""

    counts: Counts = field(default_factory=Counts)
    top: list[tuple[float, str, str]] = field(default_factory=list)  # (score, source, scan_id), best first
    highest_benign: list[tuple[float, str, str]] = field(default_factory=list)  # highest first
    lowest_anomalous: list[tuple[float, str, str]] = field(default_factory=list)  # lowest first
    top_items: list[TopItem] = field(default_factory=list)  # report v2: flagged items, best first


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


def finish_parts(tmp: Location, manifests: list[PartManifest], expected: list[tuple[str, str]],
                 top_n: int) -> Assembly:
    """Check from the write tasks' manifests alone that every expected input (scan_id, source) has
    exactly one row (the row count and the keys' fingerprint agree), remove part files no manifest
    names (a retried task's abandoned attempt), and gather the counts and the top ``top_n``. Only
    when the check fails are the key columns read back, to say which inputs are lost or doubled."""
    result, top, benign, anomalous, items = Assembly(), [], [], [], []
    for m in manifests:
        items.extend(m.top_items)
        benign.extend(m.highest_benign)
        anomalous.extend((-score, source, scan_id) for score, source, scan_id in m.lowest_anomalous)
        result.counts.files += m.rows
        result.counts.ok += m.ok
        result.counts.error += m.error
        result.counts.anomalous += m.anomalous
        top.extend(m.top)
    parts = {m.part for m in manifests if m.part is not None}
    for table in REPORT_TABLES:
        for info in tmp.fs.get_file_info(pafs.FileSelector(tmp.join(table), allow_not_found=True)):
            if info.is_file and info.base_name not in parts:
                tmp.fs.delete_file(info.path)
    if result.counts.files != len(expected) or sum(m.keys for m in manifests) % KEY_SPACE != \
            keys_fingerprint(expected):
        raise ReportError(_mismatch(tmp, sorted(parts), expected, result.counts.files))
    result.top = sorted(top, reverse=True)[:top_n]
    result.highest_benign = sorted(benign, reverse=True)[:top_n]
    result.lowest_anomalous = sorted(anomalous)[:top_n]
    result.top_items = sorted(items, reverse=True)[:top_n]
    return result


def _mismatch(tmp: Location, parts: list[str], expected: list[tuple[str, str]], rows: int) -> str:
    """What is lost or doubled, from the key columns of the scans parts (the failure path only)."""
    seen: dict[tuple[str, str], int] = {}
    for part in parts:
        with tmp.fs.open_input_file(tmp.join("scans", part)) as source:
            keys = pq.read_table(source, columns=["scan_id", "source"])
        for key in zip(keys.column("scan_id").to_pylist(), keys.column("source").to_pylist(), strict=True):
            seen[key] = seen.get(key, 0) + 1
    wanted = set(expected)
    doubled = sorted(source for (_, source), n in seen.items() if n > 1)
    if doubled:
        return (f"{doubled[0]}: scored twice ({len(doubled)} input(s) doubled); a retried task doubled its "
                "rows")
    missing, extra = sorted(wanted - set(seen)), sorted(set(seen) - wanted)
    return (f"the scored rows do not match the inputs: {rows} rows for {len(expected)} files; "
            f"missing {missing[:5]}, unexpected {extra[:5]}")


def write_success(tmp: Location, counts: Counts, details: dict) -> dict:
    """_SUCCESS (JSON: counts, timings, model, config), the last file of a report."""
    content = {"report_version": REPORT_VERSION, "counts": asdict(counts), **details}
    tmp.write_bytes(SUCCESS, (json.dumps(content, indent=2, sort_keys=True, default=str) + "\n").encode())
    return content


def _files(where: Location) -> dict[str, str]:
    """Every file under ``where``: its path relative to it -> its full path."""
    if not where.exists():
        return {}
    infos = where.fs.get_file_info(pafs.FileSelector(where.path, recursive=True))
    root = where.path.rstrip("/")
    return {i.path[len(root) + 1:]: i.path for i in infos if i.is_file}


def publish(tmp: Location, out: Location) -> None:
    """Move the finished report from its temporary name to ``out``, replacing an earlier report.

    On a local disk: the old report renamed aside, the new one renamed into place, the old one
    deleted (readers see the old report or the new one, whole). On object stores, which cannot
    rename: the old ``_SUCCESS`` deleted first, the new files copied in, the old report's other
    files deleted, the new ``_SUCCESS`` written last. In between a reader sees no ``_SUCCESS`` (and
    a mix of old and new part files): readers wait for ``_SUCCESS``, which is only ever next to one
    whole report."""
    if out.is_local:
        out.fs.create_dir(out.path.rsplit("/", 1)[0], recursive=True)
        aside = f"{out.path.rstrip('/')}.old-{uuid.uuid4().hex[:12]}"
        had_report = out.exists()
        if had_report:
            out.fs.move(out.path, aside)
        out.fs.move(tmp.path, out.path)
        if had_report:
            out.fs.delete_dir(aside)
        return
    old, new = _files(out), _files(tmp)
    if SUCCESS in old:
        out.fs.delete_file(out.join(SUCCESS))
    for relative, path in new.items():
        if relative != SUCCESS:
            out.fs.create_dir(out.join(*relative.split("/")[:-1]), recursive=True)
            out.fs.copy_file(path, out.join(relative))
    for relative, path in old.items():
        if relative not in new:
            out.fs.delete_file(path)
    out.fs.copy_file(new[SUCCESS], out.join(SUCCESS))
    tmp.remove_tree()
