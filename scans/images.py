"""Image files (PNG, TIFF) opened within the read limits: the size is checked from the header first."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from scans.errors import ScanFormatError
from scans.limits import ReadLimits

RAW_MODES = ("I;16", "I;16B", "I;16L", "I")  # 16- and 32-bit integer greyscale


def open_image(source: bytes | str, file: str, limits: ReadLimits | None = None) -> Image.Image:
    """The decoded first frame of an image file (its bytes or its path); ScanFormatError naming
    ``file`` when it is empty, unreadable, or larger than ``limits.max_pixels``, refused from its
    header before the pixels are decoded."""
    limits = limits or ReadLimits.from_env()
    if isinstance(source, bytes) and not source:
        raise ScanFormatError(file, "file is empty (0 bytes)")
    # Pillow's own bomb check (at open) uses the same limit: it warns above it, raises above twice it
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            width, height = image.size
            if width * height > limits.max_pixels:
                raise ScanFormatError(file, f"image is {height}×{width}; {limits.pixel_limit_text()}")
            image.load()
    except ScanFormatError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ScanFormatError(file, f"image too large ({err}); {limits.pixel_limit_text()}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as err:
        raise ScanFormatError(file, f"not a readable image ({type(err).__name__}: {err})") from None
    return image
