"""How much work one scan file may ask of a reader, checked from headers before anything is allocated."""

from __future__ import annotations

import os

from pydantic import BaseModel, field_validator

from scans.errors import ScanFormatError
from scans.schema import STRICT

# DUALSCAN_MAX_PIXELS=N (and the others) raise or lower a limit for every reader in a process,
# Ray workers included when the variable is in the job's runtime environment.
ENVIRONMENT = {
    "max_pixels": "DUALSCAN_MAX_PIXELS",
    "max_file_bytes": "DUALSCAN_MAX_FILE_BYTES",
    "max_items": "DUALSCAN_MAX_ITEMS",
    "max_entries": "DUALSCAN_MAX_ENTRIES",
    "max_label_chars": "DUALSCAN_MAX_LABEL_CHARS",
}


class ReadLimits(BaseModel):
    """Bounds on one file: pixels per image array (H×W), bytes of the file, items per scan, zip
    entries and characters per label. A file beyond one is refused before it is decoded."""

    model_config = STRICT

    max_pixels: int = 8192 * 8192
    max_file_bytes: int = 2 * 1024**3
    max_items: int = 65_536
    max_entries: int = 64
    max_label_chars: int = 256

    @field_validator("*", mode="before")
    @classmethod
    def _positive_integer(cls, value: object, info) -> object:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"read limit {info.field_name} must be a positive integer, got {value!r}")
        return value

    def with_max_pixels(self, max_pixels: int | None) -> ReadLimits:
        """These limits with ``max_pixels`` instead, when given (validated as any limit is)."""
        return self if max_pixels is None else ReadLimits(**{**self.model_dump(), "max_pixels": max_pixels})

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ReadLimits:
        """The defaults, with any limit the environment sets (``DUALSCAN_MAX_PIXELS`` ...)."""
        environ = os.environ if environ is None else environ
        changes = {}
        for name, variable in ENVIRONMENT.items():
            text = environ.get(variable, "").strip()
            if not text:
                continue
            try:
                changes[name] = int(text.replace("_", ""))
            except ValueError:
                raise ValueError(f"{variable}={text!r}: expected a positive integer") from None
        return cls(**changes)

    def check_file_size(self, size: int, file: str) -> None:
        """Raise ScanFormatError naming ``file`` when ``size`` bytes is above ``max_file_bytes``."""
        if size > self.max_file_bytes:
            raise ScanFormatError(file, f"file is {size:,} bytes, above the limit of {self.max_file_bytes:,} "
                                        f"(set {ENVIRONMENT['max_file_bytes']} to raise it)")

    def pixel_limit_text(self) -> str:
        """The pixel limit as a user reads it, with how to raise it."""
        return (f"the limit is {self.max_pixels:,} pixels per image "
                f"(set {ENVIRONMENT['max_pixels']} or --max-pixels to raise it)")
