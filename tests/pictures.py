"""What a figure or overlay file must be: a PNG that decodes, of a useful size, with something drawn."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def drawn_png(data: bytes, min_side: int = 32) -> Image.Image:
    """The decoded image of ``data``; fails unless it is a whole PNG at least ``min_side`` px a side
    whose pixels are not all one colour."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    image = Image.open(io.BytesIO(data))
    image.load()  # decodes every row: a truncated file fails here
    assert image.format == "PNG" and min(image.size) >= min_side, (image.format, image.size)
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 1, "a blank image"
    return image
