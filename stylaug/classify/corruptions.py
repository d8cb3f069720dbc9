"""ImageNet-C's corruptions (Hendrycks & Dietterich 2019), as a pure function of the image.

The corruption functions are the library's, never our own: ``imagecorruptions-imaug``, the
maintained fork of bethgelab's ``imagecorruptions`` (Michaelis et al. 2019, ImageNet-C's code made
to work on any image size). The original ``imagecorruptions`` 1.1.2 no longer imports with today's
setuptools (it needs ``pkg_resources``) and calls scikit-image with the removed ``multichannel``
argument; the fork fixes both, takes SciPy's current namespaces and lets glass blur and impulse
noise take a seed.

Two things are made explicit here:

* **Size.** ImageNet-C's severities were calibrated on 224 x 224 images: a defocus radius of up to
  10 px, a zoom of up to 1.33, a pixelation factor of 0.25. On a 64 px image the blurs would be 3.5
  times stronger relative to the content. Each image is therefore resized (bilinear, squashed to a
  square like the classifier's own transform) to ``size`` x ``size`` (224 by default) and
  corrupted there, at ImageNet-C's scale; the classifier's eval transform then resizes the
  corrupted image like any other.
* **Randomness.** The library draws from NumPy's global generator (and glass blur and impulse
  noise from a seed argument). ``corrupt`` seeds both from one integer and restores the global
  state afterwards; ``image_seed`` derives that integer from (image content digest, corruption,
  severity, seed). A corrupted image is thus a pure function of those four, the same in every
  process and DataLoader worker, which is what lets its features be cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
from functools import cache

import numpy as np
from PIL import Image

from stylaug.artifacts.results import CORRUPTION_FAMILIES

LIBRARY = "imagecorruptions-imaug"
CORRUPTIONS = tuple(c for members in CORRUPTION_FAMILIES.values() for c in members)
# ImageNet-C's four held-out validation corruptions, by the family they resemble
VALIDATION = {
    "speckle_noise": "noise",
    "gaussian_blur": "blur",
    "spatter": "weather",
    "saturate": "digital",
}
SEVERITIES = (1, 2, 3, 4, 5)
IMAGENET_C_SIZE = 224


def family_of(name: str) -> str:
    for family, members in CORRUPTION_FAMILIES.items():
        if name in members:
            return family
    return VALIDATION[name]


def resolve(names) -> list[str]:
    """Corruption names from a list of names, family names (noise, blur, weather, digital) and
    ``all`` (the 15 of ImageNet-C); in ImageNet-C's order, without repeats."""
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for name in names:
        if name == "all":
            out += CORRUPTIONS
        elif name in CORRUPTION_FAMILIES:
            out += CORRUPTION_FAMILIES[name]
        elif name in CORRUPTIONS or name in VALIDATION:
            out.append(name)
        else:
            raise ValueError(
                f"unknown corruption {name!r}; use all, a family ({', '.join(CORRUPTION_FAMILIES)}) or "
                f"names from {[*CORRUPTIONS, *VALIDATION]}"
            )
    return list(dict.fromkeys(out))


def check_severities(severities) -> list[int]:
    out = sorted({int(s) for s in severities})
    if not out or any(s not in SEVERITIES for s in out):
        raise ValueError(f"severities={list(severities)} must be a non-empty subset of 1..5")
    return out


@cache
def library_version() -> str:
    """``imagecorruptions-imaug <version>``: part of every cache key, so an upgrade recomputes."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{LIBRARY} {version(LIBRARY)}"
    except PackageNotFoundError as err:
        raise ImportError(
            f"corruption robustness needs the package {LIBRARY} (installed with stylaug: "
            "pip install -e .)"
        ) from err


def image_seed(digest: str, name: str, severity: int, seed: int) -> int:
    """The random seed of one corrupted image: a function of its content and the condition."""
    h = hashlib.blake2b(f"{digest}\n{name}\n{int(severity)}\n{int(seed)}".encode(), digest_size=4)
    return int.from_bytes(h.digest(), "little")


@contextlib.contextmanager
def numpy_seed(seed: int):
    """Seed NumPy's global generator for a block and put the caller's state back afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


@cache
def _takes_seed(name: str) -> bool:
    from imagecorruptions import corruption_dict

    return "seed" in inspect.signature(corruption_dict[name]).parameters


def corrupt(img: Image.Image, name: str, severity: int, seed: int, size: int | None = 224):
    """``img`` (PIL) under corruption ``name`` at ``severity``, drawn from ``seed``: a PIL RGB image
    of ``size`` x ``size`` (``None``: the image's own size, at least 32 px as the library needs)."""
    library_version()  # a clear message if the library is missing
    from imagecorruptions import corrupt as library_corrupt

    img = img.convert("RGB")
    if size is not None:
        img = img.resize((int(size), int(size)), Image.Resampling.BILINEAR)
    kwargs = {"seed": int(seed)} if _takes_seed(name) else {}
    with numpy_seed(int(seed)):
        out = library_corrupt(np.asarray(img), int(severity), name, **kwargs)
    return Image.fromarray(np.asarray(out, dtype=np.uint8))


class CorruptedView:
    """A dataset transform: ``(image, (name, severity, seed))`` -> ``transform(corrupt(...))``."""

    def __init__(self, size: int | None, transform):
        self.size, self.transform = size, transform

    def __call__(self, img, key):
        name, severity, seed = key
        return self.transform(corrupt(img, name, severity, seed, self.size))
