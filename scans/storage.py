"""Files on local paths and any URI pyarrow opens (s3://, gs://, file://), with atomic writes."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pyarrow.fs as pafs


@dataclass(frozen=True)
class Location:
    """A filesystem and a path inside it (the root of an archive or report)."""

    fs: pafs.FileSystem
    path: str
    uri: str

    @property
    def is_local(self) -> bool:
        """Whether this is a path on this machine's disks (not an object store's URI)."""
        return isinstance(self.fs, pafs.LocalFileSystem)

    def join(self, *parts: str) -> str:
        """Path of a file under this location."""
        return "/".join([self.path.rstrip("/"), *parts])

    def read_bytes(self, relative: str) -> bytes:
        """Whole contents of a file under this location."""
        with self.fs.open_input_stream(self.join(relative)) as stream:
            return stream.read()

    def exists(self, relative: str = "") -> bool:
        """Whether a file or directory exists under this location."""
        path = self.join(relative) if relative else self.path
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def _entries(self, relative: str, kind: pafs.FileType) -> list[str]:
        selector = pafs.FileSelector(self.join(relative) if relative else self.path, allow_not_found=True)
        return sorted(i.base_name for i in self.fs.get_file_info(selector) if i.type == kind)

    def list_dirs(self, relative: str = "") -> list[str]:
        """Names of the directories directly under a directory of this location, sorted."""
        return self._entries(relative, pafs.FileType.Directory)

    def list_files(self, relative: str = "") -> list[str]:
        """Names of the files directly under a directory of this location, sorted."""
        return self._entries(relative, pafs.FileType.File)

    def remove_tree(self) -> None:
        """Delete this location's directory and everything under it (nothing if absent)."""
        if self.exists():
            self.fs.delete_dir(self.path)

    def makedirs(self, relative: str = "") -> None:
        """Create a directory (and parents) under this location."""
        self.fs.create_dir(self.join(relative) if relative else self.path, recursive=True)

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Write a file atomically: to a temporary name first, then renamed into place."""
        final = self.join(relative)
        temporary = f"{final}.tmp-{uuid.uuid4().hex[:12]}"
        with self.fs.open_output_stream(temporary) as stream:
            stream.write(data)
        self.fs.move(temporary, final)

    def uri_of(self, relative: str) -> str:
        """A URI (or local path) naming a file under this location, for messages and reports."""
        return "/".join([self.uri.rstrip("/"), relative])


def locate(uri: str) -> Location:
    """Resolve a local path or URI to a filesystem and path."""
    if "://" not in uri:
        path = os.path.abspath(os.path.expanduser(uri))
        return Location(pafs.LocalFileSystem(), path, path)
    fs, path = pafs.FileSystem.from_uri(uri)
    return Location(fs, path, uri.split("?", 1)[0])
