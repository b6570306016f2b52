"""The pixel-pitch check of a scoring job: an archive seen at another pitch than the model learnt."""

from __future__ import annotations

from scans.archive import Archive
from scans.storage import Location
from study.data import input_pitch_mm

TOLERANCE = 0.10  # relative difference beyond which scoring warns


def pitch_warning(root: Location, model_pitch_mm: float | None, image_size: int) -> str | None:
    """A warning when the archive at ``root``, resized to ``image_size``², has a pixel pitch more
    than 10 % away from the one the model was trained at; None when they agree or either is unknown
    (a folder of files, an archive or a model that records no pitch)."""
    if model_pitch_mm is None or not root.exists("archive.json"):
        return None
    seen = input_pitch_mm(Archive(root), image_size)
    if seen is None or abs(seen / model_pitch_mm - 1) <= TOLERANCE:
        return None
    return (f"{root.uri}: resized to {image_size}², its scans have a pixel pitch of {seen:.3g} mm but the "
            f"model was trained at {model_pitch_mm:.3g} mm ({100 * (seen / model_pitch_mm - 1):+.0f} %): "
            "anomalies look larger or smaller than it learnt; expect worse detection")
