"""Importers registry: external dataset layouts converted to archive format v1."""

from __future__ import annotations

from scans.importers import coco, compass, dual_energy  # noqa: F401  (registration)
from scans.importers.base import IMPORTERS, ImportReport

__all__ = ["IMPORTERS", "ImportReport"]
