"""The pixel-pitch check of a scoring job: an archive seen at another pitch than the model learnt."""

from __future__ import annotations

import numpy as np

from jobs.scoring.inputs import InputFile
from models.inputs import resized_pitch_mm

TOLERANCE = 0.10  # relative difference beyond which scoring warns


def pitch_warning(uri: str, inputs: list[InputFile], model_pitch_mm: float | None,
                  image_size: int | None) -> str | None:
    """A warning when the scans of ``inputs`` (listed from ``uri``), resized to ``image_size``² (None:
    at native pitch, as item-first models see them), have a pixel pitch more than 10 % away from
    the one the model was trained at; None when they agree or either is unknown (a folder of files,
    an archive or a model that records no pitch)."""
    pitches = {input_file.pitch_mm for input_file in inputs if input_file.pitch_mm > 0}
    if model_pitch_mm is None or len(pitches) != 1:
        return None
    sides = np.array([max(input_file.height, input_file.width) for input_file in inputs])
    seen = pitches.pop() if image_size is None else resized_pitch_mm(pitches.pop(), sides, image_size)
    if seen is None or abs(seen / model_pitch_mm - 1) <= TOLERANCE:
        return None
    how = "at native pitch" if image_size is None else f"resized to {image_size}²"
    return (f"{uri}: {how}, its scans have a pixel pitch of {seen:.3g} mm but the "
            f"model was trained at {model_pitch_mm:.3g} mm ({100 * (seen / model_pitch_mm - 1):+.0f} %): "
            "anomalies look larger or smaller than it learnt; expect worse detection")
