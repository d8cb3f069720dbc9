"""Read any image file as 8-bit RGB, or say clearly why it cannot be read.

Scene collections are messy: grayscale scans, palette GIF-likes, RGBA PNGs, CMYK JPEGs, 16-bit
PNGs, EXIF-rotated camera photos, huge panoramas, truncated downloads and zero-byte files all occur.
Every stage reads images through ``load_rgb`` so they all behave the same, and through
``read_image`` when a bad file should be skipped (``data.on_bad_image=skip``) rather than stop the
run (``error``). ``prepare_data`` decodes every indexed file once with the same function, so a file
that is in an index is one that later stages can read.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, never silently grey

ON_BAD_IMAGE_CHOICES = ("skip", "error")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")  # readable
# Longest side of a decoded image. Places365 images (256 px) are far below it; a 12000 px photo is
# decoded at reduced size instead of as a 432 MB array that every stage would then have to shrink.
MAX_SIDE = 2048


class BadImageError(ValueError):
    """An image file that exists in a listing but cannot be decoded."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(
            f"cannot read image {self.path}: {reason}. Replace or delete the file, or run with "
            "data.on_bad_image=skip to skip unreadable images (they are counted in the run summary)."
        )


def _deep_to_l(img: Image.Image) -> Image.Image:
    """16-bit / 32-bit / float grayscale -> 8-bit L over the full range.

    PIL's own convert clips 16-bit values at 255 (nearly everything turns white), so rescale.
    """
    arr = np.asarray(img).astype(np.float32)
    if img.mode == "F":
        top = 1.0 if arr.size and arr.max() <= 1.0 else 255.0
    else:  # I;16*, or I holding 16-bit data (how older PILs open 16-bit grayscale PNGs)
        top = 65535.0 if arr.size and arr.max() > 255 or img.mode.startswith("I;16") else 255.0
    arr *= 255.0 / top
    np.rint(arr, out=arr)
    np.clip(arr, 0, 255, out=arr)
    return Image.fromarray(arr.astype(np.uint8), mode="L")


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
        return _deep_to_l(img).convert("RGB")
    return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


def _shrink(img: Image.Image, max_side: int) -> Image.Image:
    """Box-reduce by the smallest integer factor that brings the longest side to <= max_side."""
    factor = math.ceil(max(img.size) / max_side)
    if factor <= 1:
        return img
    if img.mode == "P":  # Image.reduce has no palette, 1-bit or I;16 variant: go to one it has
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode == "1":
        img = img.convert("L")
    elif img.mode.startswith("I;16") or img.mode == "I":
        img = _deep_to_l(img)  # keeps the 16-bit range decision of the full image
    return img.reduce(factor)


def square_crop(img: Image.Image) -> Image.Image:
    """The centred square of side min(w, h).

    Crop *before* resizing to a square size: resizing a 1x4000 strip's short side to 256 px first
    would make a 256x1024000 image on the way.
    """
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return img if (w, h) == (side, side) else img.crop((left, top, left + side, top + side))


def _upright(img: Image.Image, path: Path) -> None:
    """Apply the EXIF orientation in place; a malformed EXIF block leaves the pixels as stored."""
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception as err:  # PIL raises many types for broken EXIF; the pixels are still fine
        log.debug("ignoring unreadable EXIF orientation of %s: %s", path, err)


def load_rgb(path: str | os.PathLike, max_side: int | None = None) -> Image.Image:
    """Decode ``path`` fully (so truncation is caught here, not later), upright, as RGB.

    The EXIF orientation is applied. Decoding is bounded: the result's longest side is at most
    ``max_side`` (default ``MAX_SIDE``). JPEGs are decoded at reduced scale by libjpeg itself
    (draft mode, which still reads the whole stream, so truncation is still caught); other formats
    are reduced right after decoding.
    """
    path = Path(path)
    max_side = MAX_SIDE if max_side is None else int(max_side)
    if max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels, got {max_side}")
    if not path.exists():
        raise BadImageError(path, "file does not exist")
    if path.is_dir():
        raise BadImageError(path, "is a folder, not an image file")
    if path.stat().st_size == 0:
        raise BadImageError(path, "file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if max(w, h) > max_side:  # only JPEG (and MPO) act on a draft request
                    scale = max(w, h) / max_side  # ask for the aspect ratio, so both sides shrink
                    img.draft("RGB", (max(1, int(w / scale)), max(1, int(h / scale))))
                img.load()
                img = _shrink(img, max_side)  # the decoded pixels outlive the closed file
            _upright(img, path)
            return to_rgb(img)
    except UnidentifiedImageError:
        raise BadImageError(path, "not an image file PIL can identify") from None
    except Image.DecompressionBombError as err:
        raise BadImageError(path, f"too many pixels to decode safely ({err})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:  # truncated streams, broken chunks
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


def fit_size(size: tuple[int, int], long_side: int | None) -> tuple[int, int]:
    """(W, H) scaled so that the longer side is ``long_side`` (None: unchanged)."""
    w, h = size
    if not long_side:
        return w, h
    scale = long_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def load_mask(path, size_hw: tuple[int, int], key: str = "mask"):
    """A grayscale mask (white = selected) as a (1, 1, H, W) float tensor in [0, 1] at ``size_hw``.

    A mask of another size is resized when its aspect ratio matches the image's (within 2%);
    a different aspect ratio would shift the region, so that is an error instead.
    """
    import torch

    try:
        img = load_rgb(path).convert("L")
    except ValueError as err:
        raise ValueError(f"{key}={path}: {err}") from None
    h, w = size_hw
    if img.size != (w, h):
        mw, mh = img.size
        if abs(mw / mh - w / h) > 0.02 * (w / h):
            raise ValueError(
                f"{key}={path} is {mw}x{mh} but the image it masks is {w}x{h} (after resizing): "
                f"the aspect ratios differ, so resizing would move the region. Make a mask with "
                f"the image's aspect ratio (or exactly its size)."
            )
        log.info("resizing %s %s from %dx%d to %dx%d", key, path, mw, mh, w, h)
        img = img.resize((w, h), Image.BILINEAR)
    mask = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)[None, None]
    if float(mask.max()) <= 0:
        raise ValueError(f"{key}={path} is all black: it selects no region to stylize")
    return mask
