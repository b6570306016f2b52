"""COMPASS-XP style folders: High/, Low/, Colour/ images with 4-digit basenames and meta.txt."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator

from scans.errors import ScanFormatError
from scans.importers.base import (
    IMPORTERS,
    ImportReport,
    read_image,
    to_pseudo,
    to_transmission,
    write_archive,
)
from scans.record import Scan

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
META_COLUMNS = ("basename", "class", "dangerous")


def _index(folder: str) -> dict[str, str]:
    if not os.path.isdir(folder):
        return {}
    return {os.path.splitext(name)[0]: os.path.join(folder, name)
            for name in sorted(os.listdir(folder))
            if name.lower().endswith(IMAGE_EXTENSIONS)}


def read_meta(path: str) -> dict[str, dict[str, str]]:
    """meta.txt rows by basename; the file is tab-separated with a header line."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        fields = [h.strip().lower() for h in reader.fieldnames or []]
        missing = [c for c in META_COLUMNS if c not in fields]
        if missing:
            raise ScanFormatError(path, f"meta.txt lacks columns {missing}; has {fields}")
        rows = {}
        for row in reader:
            clean = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            rows[clean["basename"].zfill(4)] = clean
    return rows


def _truthy(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "y", "t"):
        return True
    if lowered in ("0", "false", "no", "n", "f"):
        return False
    return None


def _scans(src: str, split: str) -> Iterator[Scan | ScanFormatError]:
    high, low, colour = (_index(os.path.join(src, d)) for d in ("High", "Low", "Colour"))
    if not high and not colour:
        raise ScanFormatError(src, "no High/ or Colour/ images: not a COMPASS-XP style folder")
    meta_path = os.path.join(src, "meta.txt")
    meta = read_meta(meta_path) if os.path.exists(meta_path) else {}
    for base in sorted(set(high) | set(colour)):
        try:
            scan = Scan(f"compass_{base}", split=split, source=f"compass-xp:{os.path.join(src, base)}")
            if base in high:
                if base not in low:
                    raise ScanFormatError(high[base], f"no Low/ image for basename {base}")
                scan.high = to_transmission(read_image(high[base]), high[base])
                scan.low = to_transmission(read_image(low[base]), low[base])
            if base in colour:
                scan.pseudo = to_pseudo(read_image(colour[base]), colour[base])
            row = meta.get(base.zfill(4))
            if row is not None:
                scan.meta = {"is_anomalous": _truthy(row["dangerous"]), "class": row["class"]}
            yield scan
        except ScanFormatError as err:
            yield err


@IMPORTERS.register("compass")
def import_compass(src: str, out: str, split: str = "", zeff_calibration: str | None = None) -> ImportReport:
    """Convert a COMPASS-XP style folder at ``src`` into an archive at ``out``.

    High/Low are 8- or 16-bit grey detector images (bright = air), scaled to transmissions;
    Colour/ is the pseudo-colour image; meta.txt's ``dangerous`` gives the scan-level label; Z_eff
    is derived at import with ``zeff_calibration`` (the scanner's file, or ``simulator``), else none.
    """
    return write_archive(out, _scans(src, split), {"source": f"compass-xp:{os.path.abspath(src)}"},
                         zeff_calibration)
