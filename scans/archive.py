"""Archive format v1: archive.json, manifest.parquet, scans/<id>.npz, previews/<id>.png."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from scans.errors import ArchiveError, ScanFormatError
from scans.limits import ReadLimits
from scans.modalities import ZEFF_CALIBRATION
from scans.npz import decode_npz, encode_npz
from scans.record import Scan
from scans.storage import Location, locate
from scans.validate import validate_arrays

ARCHIVE_FORMAT = "dualscan-archive"
ARCHIVE_VERSION = 1
SPLITS = ("train", "val", "test", "")

MANIFEST_SCHEMA = pa.schema([
    ("scan_id", pa.string()),
    ("file", pa.string()),
    ("split", pa.string()),
    ("height", pa.int32()),
    ("width", pa.int32()),
    ("has_labels", pa.bool_()),
    ("n_objects", pa.int32()),
    ("is_anomalous", pa.bool_()),
    ("source", pa.string()),
])


def scan_file(scan_id: str) -> str:
    """Relative path of a scan's .npz inside an archive."""
    return f"scans/{scan_id}.npz"


def manifest_row(scan: Scan) -> dict:
    """The manifest.parquet row describing ``scan``."""
    if scan.split not in SPLITS:
        raise ValueError(f"scan {scan.scan_id}: split must be one of {SPLITS}, got {scan.split!r}")
    height, width = scan.shape
    return {
        "scan_id": scan.scan_id,
        "file": scan_file(scan.scan_id),
        "split": scan.split,
        "height": height,
        "width": width,
        "has_labels": scan.has_labels,
        "n_objects": scan.n_objects,
        "is_anomalous": scan.is_anomalous if scan.has_labels else scan.meta.get("is_anomalous"),
        "source": scan.source,
    }


def write_scan(root: Location, scan: Scan, preview_png: bytes | None = None) -> dict:
    """Write one scan's .npz (and preview) atomically under ``root``; returns its manifest row."""
    arrays = scan.arrays()
    validate_arrays(arrays, root.uri_of(scan_file(scan.scan_id)))
    root.write_bytes(scan_file(scan.scan_id), encode_npz(arrays))
    if preview_png is not None:
        root.write_bytes(f"previews/{scan.scan_id}.png", preview_png)
    return manifest_row(scan)


def prepare_archive(uri: str) -> Location:
    """Create the archive's directories and return its location."""
    root = locate(uri)
    for sub in ("", "scans", "previews"):
        root.makedirs(sub)
    return root


def finish_archive(root: Location, rows: list[dict], info: dict) -> None:
    """Write manifest.parquet, then archive.json last: an archive without it is incomplete."""
    ids = [r["scan_id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise ArchiveError(f"{root.uri}: duplicate scan ids in the manifest")
    table = pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    root.write_bytes("manifest.parquet", sink.getvalue())
    meta = {"format": ARCHIVE_FORMAT, "version": ARCHIVE_VERSION, "n_scans": len(rows), **info}
    root.write_bytes("archive.json", (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())


class Archive:
    """A readable archive v1 on a local path or URI; each scan is read within ``limits``."""

    def __init__(self, uri: str | Location, limits: ReadLimits | None = None):
        self.root = uri if isinstance(uri, Location) else locate(uri)
        self.limits = limits or ReadLimits.from_env()
        self.uri = self.root.uri
        if not self.root.exists("archive.json"):
            raise ArchiveError(f"{self.root.uri_of('archive.json')}: not found; "
                               "not a DualScan archive, or an incomplete one")
        try:
            self.info = json.loads(self.root.read_bytes("archive.json"))
        except ValueError as err:
            raise ArchiveError(f"{self.root.uri_of('archive.json')}: not valid JSON ({err})") from None
        if self.info.get("format") != ARCHIVE_FORMAT:
            raise ArchiveError(f"{self.root.uri_of('archive.json')}: 'format' must be "
                               f"{ARCHIVE_FORMAT!r}, got {self.info.get('format')!r}")
        if self.info.get("version") != ARCHIVE_VERSION:
            raise ArchiveError(f"{self.root.uri_of('archive.json')}: 'version' "
                               f"{self.info.get('version')!r} is not supported (reads {ARCHIVE_VERSION})")
        try:
            # one thread: a small table, and Arrow's pool threads alive at interpreter exit abort
            # a short command (synth, preview) now and then (apache/arrow#34314)
            manifest = io.BytesIO(self.root.read_bytes("manifest.parquet"))
            self.manifest = pq.read_table(manifest, use_threads=False)
        except (OSError, pa.ArrowInvalid) as err:
            raise ArchiveError(f"{self.root.uri_of('manifest.parquet')}: unreadable ({err})") from None
        missing = [f.name for f in MANIFEST_SCHEMA if f.name not in self.manifest.column_names]
        if missing:
            raise ArchiveError(f"{self.root.uri_of('manifest.parquet')}: missing columns {missing}")
        self.manifest = self.manifest.select(MANIFEST_SCHEMA.names).cast(MANIFEST_SCHEMA)
        self._rows = {r["scan_id"]: r for r in self.manifest.to_pylist()}

    def __len__(self) -> int:
        return self.manifest.num_rows

    @property
    def pitch_mm(self) -> float | None:
        """The detector pitch archive.json records (``pitch_mm``), None when it records none."""
        value = self.info.get("pitch_mm")
        return float(value) if isinstance(value, int | float) and value > 0 else None

    @property
    def zeff_calibration(self):
        """How Z_eff is derived from this archive's high/low where a scan stores none: "simulator"
        for archives the simulator wrote, the table of the calibration file archive.json names
        (``zeff_calibration: {"file": ..., "sha256": ...}``), or None: none given, Z not derivable."""
        if not hasattr(self, "_zeff_calibration"):
            named = self.info.get("zeff_calibration")
            if named == "simulator" or (named is None and self.info.get("generator") == "dualscan-synth"):
                self._zeff_calibration = "simulator"
            elif isinstance(named, dict) and isinstance(named.get("file"), str):
                from scans.zeff_calibration import read_calibration  # scipy: only when one is named

                file = self.root.uri_of(named["file"])
                try:
                    data = self.root.read_bytes(named["file"])
                except OSError as err:
                    raise ArchiveError(f"{file}: archive.json names this Z_eff calibration, but it cannot "
                                       f"be read ({err})") from None
                self._zeff_calibration = read_calibration(data, file)
            else:
                self._zeff_calibration = None
        return self._zeff_calibration

    @property
    def scan_ids(self) -> list[str]:
        """Scan ids in manifest order."""
        return self.manifest.column("scan_id").to_pylist()

    def fingerprint(self) -> str:
        """sha256 of what identifies the archive: archive.json's content and the manifest's rows
        (ids, files, splits, sizes, labels), in a canonical form, so that the same archive written
        by another Parquet writer has the same fingerprint. It does not hash every scan's bytes."""
        content = {"info": self.info, "manifest": self.manifest.to_pylist()}
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()

    def ids_in_split(self, split: str) -> list[str]:
        """Scan ids of one split."""
        return [r["scan_id"] for r in self._rows.values() if r["split"] == split]

    def file_uri(self, scan_id: str) -> str:
        """URI of a scan's file."""
        return self.root.uri_of(self._rows[scan_id]["file"])

    def read(self, scan_id: str) -> Scan:
        """Load, validate and return one scan."""
        try:
            row = self._rows[scan_id]
        except KeyError:
            raise KeyError(f"{self.uri}: no scan {scan_id!r} in the manifest") from None
        file = self.root.uri_of(row["file"])
        data = read_bounded(self.root.fs, self.root.join(row["file"]), file, self.limits)
        return read_scan_bytes(data, file, scan_id=scan_id, limits=self.limits,
                               shape=(row["height"], row["width"]), pitch_mm=self.pitch_mm,
                               zeff_calibration=self.zeff_calibration, split=row["split"],
                               source=row["source"])

    def item_classes(self, scan_ids: list[str]) -> list[str]:
        """The distinct classes of the labelled items of ``scan_ids``, sorted: each file's
        ``object_class`` alone is read (not its images)."""
        classes: set[str] = set()
        for scan_id in scan_ids:
            file = self.file_uri(scan_id)
            data = read_bounded(self.root.fs, self.root.join(self._rows[scan_id]["file"]), file, self.limits)
            try:
                with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                    if "object_class" in npz.files:
                        classes.update(str(name) for name in npz["object_class"].reshape(-1))
            except (ValueError, OSError, zipfile.BadZipFile) as err:
                raise ScanFormatError(f"{file}: its object_class cannot be read ({err})") from None
        return sorted(classes)

    def __iter__(self) -> Iterator[Scan]:
        for scan_id in self.scan_ids:
            yield self.read(scan_id)


def read_bounded(fs: pafs.FileSystem, path: str, file: str, limits: ReadLimits) -> bytes:
    """A file's bytes, refused (ScanFormatError naming ``file``) when it is larger than ``limits``
    allow or cannot be read."""
    try:
        with fs.open_input_file(path) as handle:  # random access: its size before any byte is read
            limits.check_file_size(handle.size(), file)
            return handle.read()
    except OSError as err:  # pyarrow raises OSError subclasses for missing or unreadable files
        raise ScanFormatError(file, f"cannot be read ({type(err).__name__}: {err})") from None


def read_scan_bytes(data: bytes, file: str, scan_id: str | None = None, limits: ReadLimits | None = None,
                    shape: tuple[int, int] | None = None, pitch_mm: float | None = None,
                    zeff_calibration: object = None, **fields) -> Scan:
    """The one decoder of a scan file's bytes (archives and scoring alike): decoded and validated
    within ``limits`` (and, given a manifest row's ``shape``, at that H×W), errors (ScanFormatError)
    naming ``file``; the archive's detector ``pitch_mm`` and, for a raw scan that stores no Z_eff,
    the ``zeff_calibration`` to derive it by go into its meta, so Z_eff is derived alike everywhere."""
    arrays = decode_npz(data, file, limits, shape)
    validate_arrays(arrays, file)
    if scan_id is None:
        scan_id = file.rsplit("/", 1)[-1].removesuffix(".npz")
    scan = Scan.from_arrays(scan_id, arrays, **fields)
    if pitch_mm is not None and pitch_mm > 0:
        scan.meta["pitch_mm"] = pitch_mm
    if scan.zeff is None and scan.has_raw and zeff_calibration is not None:
        scan.meta[ZEFF_CALIBRATION] = zeff_calibration
    return scan

