"""Publishing a finished report over an earlier one: a rename on local disks; on object stores the
old _SUCCESS goes first, the old files only after the new ones are in, the new _SUCCESS last."""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs as pafs

from jobs.scoring.report import SUCCESS, publish
from scans.storage import Location, locate


class RecordingFileSystem:
    """A local filesystem seen as an object store (not a LocalFileSystem), recording each change."""

    def __init__(self):
        self.fs = pafs.LocalFileSystem()
        self.changes: list[tuple[str, str]] = []

    def __getattr__(self, name):
        method = getattr(self.fs, name)
        if name not in ("delete_file", "copy_file", "delete_dir"):
            return method

        def recorded(*args):
            self.changes.append((name, Path(args[-1]).name))
            return method(*args)
        return recorded


def _report(root: Path, part: str, success: str) -> None:
    (root / "scans").mkdir(parents=True)
    (root / "scans" / part).write_text(part)
    (root / SUCCESS).write_text(success)


def test_local_publish_replaces_the_old_report_whole(tmp_path):
    _report(tmp_path / "out", "part-old.parquet", "old")
    _report(tmp_path / "out.tmp", "part-new.parquet", "new")
    publish(locate(str(tmp_path / "out.tmp")), locate(str(tmp_path / "out")))
    assert sorted(p.name for p in (tmp_path / "out" / "scans").iterdir()) == ["part-new.parquet"]
    assert (tmp_path / "out" / SUCCESS).read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary or old copy left


def test_object_store_publish_keeps_readers_waiting_for_success(tmp_path):
    _report(tmp_path / "out", "part-old.parquet", "old")
    _report(tmp_path / "out.tmp", "part-new.parquet", "new")
    fs = RecordingFileSystem()
    out, tmp = Location(fs, str(tmp_path / "out"), "s3://b/out"), Location(fs, str(tmp_path / "out.tmp"), "t")
    assert not out.is_local
    publish(tmp, out)
    assert fs.changes == [("delete_file", SUCCESS), ("copy_file", "part-new.parquet"),
                          ("delete_file", "part-old.parquet"), ("copy_file", SUCCESS),
                          ("delete_dir", "out.tmp")]
    assert sorted(p.name for p in (tmp_path / "out" / "scans").iterdir()) == ["part-new.parquet"]
    assert (tmp_path / "out" / SUCCESS).read_text() == "new" and not (tmp_path / "out.tmp").exists()
