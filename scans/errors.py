"""Errors raised for users' data: each names the file and the rule it breaks."""

from __future__ import annotations


class ScanFormatError(ValueError):
    """A scan file breaks a rule of archive format v1."""

    def __init__(self, file: str, rule: str):
        super().__init__(f"{file}: {rule}")
        self.file = file
        self.rule = rule

    def __reduce__(self):  # pickled by its two fields (a worker process's error reaches its caller)
        return type(self), (self.file, self.rule)


class ArchiveError(ValueError):
    """An archive as a whole is unusable (missing or wrong archive.json or manifest)."""
