"""Image files (PNG, TIFF; JPEG, BMP for importers) read within the limits, sized from the header first."""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from scans.errors import ScanFormatError
from scans.limits import ReadLimits

RAW_MODES = ("I;16", "I;16B", "I;16L", "I")  # 16- and 32-bit integer greyscale
SCAN_FORMATS = ("PNG", "TIFF")  # what scoring reads; importers also read scanners' JPEG and BMP exports
IMPORT_FORMATS = (*SCAN_FORMATS, "JPEG", "BMP")


def open_image(source: bytes | str, file: str, limits: ReadLimits | None = None,
               formats: tuple[str, ...] = SCAN_FORMATS) -> Image.Image:
    """The decoded first frame of an image file (its bytes or its path) in one of ``formats``
    (Pillow's names; the content decides, not the file name); ScanFormatError naming ``file`` when
    it is empty, unreadable, another format, or larger than ``limits.max_pixels``, refused from its
    header before the pixels are decoded. Thread-safe: Pillow's process-wide bomb check
    (``Image.MAX_IMAGE_PIXELS``) is left as the process set it, a second bound beside ours."""
    limits = limits or ReadLimits.from_env()
    if isinstance(source, bytes) and not source:
        raise ScanFormatError(file, "file is empty (0 bytes)")
    image = None
    try:
        # Image.open reads the header only: its width × height is checked before any pixel is decoded
        image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source, formats=formats)
        check_pixels(image.size, file, limits)
        image.load()
        return image
    except Exception as err:
        if image is not None:
            image.close()
        raise _format_error(err, file, limits, formats) from None


def check_pixels(size: tuple[int, int], file: str, limits: ReadLimits) -> None:
    """Raise ScanFormatError naming ``file`` when an image of ``size`` (width, height) has more
    pixels than ``limits`` allow."""
    width, height = size
    if width * height > limits.max_pixels:
        raise ScanFormatError(file, f"image too large ({width}×{height} is {width * height} pixels); "
                                    f"{limits.pixel_limit_text()}")


def _format_error(err: Exception, file: str, limits: ReadLimits, formats: tuple[str, ...]) -> ScanFormatError:
    """What an image read that failed with ``err`` tells the user."""
    if isinstance(err, ScanFormatError):
        return err
    if isinstance(err, Image.DecompressionBombError):  # Pillow's own: 2 × its global, above ours by default
        lower = Image.MAX_IMAGE_PIXELS is not None and limits.max_pixels > 2 * Image.MAX_IMAGE_PIXELS
        below = "; Pillow's own limit (PIL.Image.MAX_IMAGE_PIXELS) is lower" if lower else ""
        return ScanFormatError(file, f"image too large ({err}); {limits.pixel_limit_text()}{below}")
    if isinstance(err, UnidentifiedImageError):
        return ScanFormatError(file, f"not a readable image in {'/'.join(formats)} ({err})")
    # Pillow's decoders raise OSError, ValueError, SyntaxError, struct.error, IndexError ... on corrupt data
    return ScanFormatError(file, f"not a readable image ({type(err).__name__}: {err})")
