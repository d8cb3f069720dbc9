"""Read any image file as 8-bit RGB, or say clearly why it cannot be read.

Scene collections are messy: grayscale scans, palette GIF-likes, RGBA PNGs, CMYK JPEGs, 16-bit
PNGs, truncated downloads and zero-byte files all occur. Every stage reads images through
``load_rgb`` so they all behave the same, and through ``read_image`` when a bad file should be
skipped (``data.on_bad_image=skip``) rather than stop the run (``error``).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

log = logging.getLogger(__name__)

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, never silently grey

ON_BAD_IMAGE_CHOICES = ("skip", "error")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")  # readable


class BadImageError(ValueError):
    """An image file that exists in a listing but cannot be decoded."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(
            f"cannot read image {self.path}: {reason}. Replace or delete the file, or run with "
            "data.on_bad_image=skip to skip unreadable images (they are counted in the run summary)."
        )


def _sixteen_bit_to_rgb(img: Image.Image) -> Image.Image:
    """PIL's own convert('RGB') clips 16-bit values at 255; rescale the full range instead."""
    arr = np.asarray(img, dtype=np.float64)
    if img.mode == "F":
        top = 1.0 if arr.size and arr.max() <= 1.0 else 255.0
    else:  # I;16*, or I holding 16-bit data (how PIL opens 16-bit grayscale PNGs)
        top = 65535.0 if arr.size and arr.max() > 255 or img.mode.startswith("I;16") else 255.0
    arr8 = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(arr8, mode="L").convert("RGB")


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert a decoded image of any PIL mode to 8-bit RGB (transparency composited on white)."""
    if img.mode == "RGB":
        return img
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        return _sixteen_bit_to_rgb(img)
    return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Decode ``path`` fully (so truncation is caught here, not later) and return it as RGB."""
    path = Path(path)
    if not path.exists():
        raise BadImageError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise BadImageError(path, "file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                return to_rgb(img)
    except UnidentifiedImageError:
        raise BadImageError(path, "not an image file PIL can identify") from None
    except (OSError, SyntaxError, ValueError) as err:  # truncated streams, broken chunks
        raise BadImageError(path, f"broken or truncated image data ({err})") from None


def check_on_bad_image(policy: str) -> str:
    if policy not in ON_BAD_IMAGE_CHOICES:
        raise ValueError(
            f"data.on_bad_image={policy!r} is not valid; use one of {', '.join(ON_BAD_IMAGE_CHOICES)}"
        )
    return policy


def read_image(path: str | os.PathLike, on_bad_image: str = "skip") -> Image.Image | None:
    """``load_rgb``, but with ``on_bad_image='skip'`` a bad file gives a warning and ``None``."""
    check_on_bad_image(on_bad_image)
    try:
        return load_rgb(path)
    except BadImageError as err:
        if on_bad_image == "error":
            raise
        log.warning("skipping unreadable image %s: %s", err.path, err.reason)
        return None
