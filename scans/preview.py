"""Contact sheet of an archive: pseudo-colour, high, low and Z_eff side by side, anomalies outlined."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from scans.archive import Archive
from scans.modalities import ZEFF_SCALE, scan_pseudo, scan_zeff
from scans.record import Scan

PANELS = ("pseudo-colour + anomalies", "high", "low", "Z_eff")


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG encoding of a uint8 image (deterministic: no timestamps)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _outline(mask: np.ndarray) -> np.ndarray:
    edge = np.zeros_like(mask, dtype=bool)
    edge[1:] |= mask[1:] != mask[:-1]
    edge[:-1] |= mask[1:] != mask[:-1]
    edge[:, 1:] |= mask[:, 1:] != mask[:, :-1]
    edge[:, :-1] |= mask[:, 1:] != mask[:, :-1]
    return edge & mask


def contact_sheet(scans: list[Scan], title: str = "") -> bytes:
    """PNG bytes: one row per scan, the four panels in columns."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(scans), 4, figsize=(12, 3.1 * len(scans)), squeeze=False)
    for row, scan in zip(axes, scans, strict=True):
        pseudo = scan_pseudo(scan).copy()
        if scan.anomaly is not None:
            pseudo[_outline(scan.anomaly > 0)] = (255, 0, 0)
        labels = ""
        if scan.object_class is not None:
            labels = ", ".join(f"{c}{'*' if a else ''}" for c, a in
                               zip(scan.object_class, scan.object_anomalous, strict=True))
        row[0].imshow(pseudo)
        row[0].set_title(f"{scan.scan_id} [{scan.split}]\n{labels}", fontsize=8)
        if scan.has_raw:
            row[1].imshow(scan.high, cmap="gray", vmin=0, vmax=1)
            row[2].imshow(scan.low, cmap="gray", vmin=0, vmax=1)
            z = row[3].imshow(scan_zeff(scan), cmap="turbo", vmin=0, vmax=ZEFF_SCALE)
            fig.colorbar(z, ax=row[3], fraction=0.046, pad=0.02)
        for ax, name in zip(row, PANELS, strict=True):
            if ax is not row[0]:
                ax.set_title(name, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title or "DualScan contact sheet (* = item hides an anomaly, red outline)",
                 fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def archive_contact_sheet(uri: str, n: int = 6, anomalous_first: bool = True) -> bytes:
    """Contact sheet of the first ``n`` scans of an archive (anomalous ones first, if asked)."""
    archive = Archive(uri)
    rows = archive.manifest.to_pylist()
    if anomalous_first:
        rows.sort(key=lambda r: not r["is_anomalous"])
    scans = [archive.read(r["scan_id"]) for r in rows[:n]]
    return contact_sheet(scans, f"{archive.uri} — {len(archive)} scans")
