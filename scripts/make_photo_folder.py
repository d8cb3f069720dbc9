"""Write a small image-folder dataset of real photos, laid out as a user's own data would be.

    python scripts/make_photo_folder.py PATH [--classes 10] [--per-class 30] [--test-per-class 8]
                                             [--flat] [--size 64 160] [--seed 0]

makes ``PATH/train/<class>/`` and ``PATH/test/<class>/`` (``--flat``: ``PATH/<class>/`` only, for
``dataset.test_fraction``). Each class leans on one of the real photos bundled with scikit-image
(astronaut, chelsea, coffee, rocket, ...) and scikit-learn (china, flower): random crops at random
scales and aspect ratios, mirrored, colour-jittered, with a per-class tint when there are more
classes than photos. Like real collections, the files come in mixed sizes (``--size`` min and max
side), as JPEG and PNG with lower- and upper-case extensions (``.jpg``, ``.JPG``, ``.jpeg``,
``.png``, ``.PNG``), next to stray files stylaug must ignore and count (``notes.txt``,
``Thumbs.db``, ``.DS_Store``, a hidden ``.ipynb_checkpoints/`` folder) and one truncated JPEG per
split that prepare_data must leave out (``--no-bad`` omits it). Then:

    python -m stylaug.pipeline dataset=folder dataset.source=PATH scenario=longtail ...

The photos are not of their classes' subjects; the tree tests plumbing on real-photo statistics,
never whether style augmentation helps.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

# (photo, default class name): skimage.data's colour and grey photos, scikit-learn's two
PHOTOS = [
    ("chelsea", "cat"),
    ("coffee", "coffee"),
    ("rocket", "rocket"),
    ("astronaut", "astronaut"),
    ("china", "temple"),
    ("flower", "flower"),
    ("motorcycle", "motorcycle"),
    ("hubble_deep_field", "galaxy"),
    ("immunohistochemistry", "tissue"),
    ("retina", "retina"),
    ("camera", "camera man"),
    ("brick", "brick wall"),
    ("grass", "grass"),
    ("gravel", "gravel"),
    ("coins", "coins"),
    ("moon", "moon"),
]
# name suffix, PIL format: mixed formats and upper-case extensions, as real folders have them
FORMATS = [(".jpg", "JPEG"), (".png", "PNG"), (".JPG", "JPEG"), (".jpeg", "JPEG"), (".PNG", "PNG")]
STRAYS = {  # relative to a class folder: files that are not images, or hidden
    "notes.txt": b"collected 2024; see sheet\n",
    "Thumbs.db": b"\x00" * 64,
    ".DS_Store": b"\x00\x00\x00\x01Bud1",
    ".ipynb_checkpoints/view-checkpoint.jpg": b"not looked at",
}


def load_photo(name: str) -> Image.Image:
    """One bundled photo as RGB (no download: both libraries ship them)."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return Image.fromarray(load_sample_image(f"{name}.jpg"))
    import skimage.data

    arr = (
        skimage.data.stereo_motorcycle()[0]
        if name == "motorcycle"
        else getattr(skimage.data, name)()
    )
    return Image.fromarray(np.asarray(arr)).convert("RGB")


def class_names(n: int) -> list[str]:
    """The first photos' names, then numbered tinted variants (``cat 2``) past the 16 photos."""
    return [
        PHOTOS[k % len(PHOTOS)][1] + (f" {k // len(PHOTOS) + 1}" if k >= len(PHOTOS) else "")
        for k in range(n)
    ]


def photo_variant(photo: Image.Image, tint, size: tuple[int, int], rng) -> Image.Image:
    """A random crop (scale, place, aspect ratio), resized to a random side in ``size``."""
    w, h = photo.size
    aspect = rng.uniform(0.7, 1.4)
    ch = int(rng.uniform(0.35, 1.0) * min(h, w / aspect))
    cw = int(ch * aspect)
    left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    long_side = int(rng.integers(size[0], size[1] + 1))
    scale = long_side / max(cw, ch)
    out = (max(8, round(cw * scale)), max(8, round(ch * scale)))
    img = photo.crop((left, top, left + cw, top + ch)).resize(out, Image.BICUBIC)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.8, 1.2))
    img = ImageEnhance.Color(img).enhance(rng.uniform(0.7, 1.3))
    arr = np.asarray(img, dtype=np.float32) * np.asarray(tint, dtype=np.float32)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def encoded(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def make_folder(
    path,
    classes: int | list[str] = 3,
    per_class: int = 30,
    test_per_class: int = 8,
    flat: bool = False,
    size: tuple[int, int] = (64, 160),
    seed: int = 0,
    bad: bool = True,
) -> dict:
    """Write the tree; return {"classes", "images": {split: {class: n}}, "strays", "bad"}."""
    names = class_names(classes) if isinstance(classes, int) else list(classes)
    root = Path(path)
    rng = np.random.default_rng(seed)
    cache: dict[str, Image.Image] = {}
    splits = (
        {"": per_class + test_per_class} if flat else {"train": per_class, "test": test_per_class}
    )
    written = {"classes": names, "images": {}, "strays": 0, "bad": []}
    for split, n in splits.items():
        written["images"][split or "all"] = {}
        for k, cls in enumerate(names):
            photo_name = PHOTOS[k % len(PHOTOS)][0]
            photo = cache.setdefault(photo_name, load_photo(photo_name))
            tint = (1.0, 1.0, 1.0) if k < len(PHOTOS) else tuple(rng.uniform(0.75, 1.25, 3))
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                suffix, fmt = FORMATS[int(rng.integers(len(FORMATS)))]
                img = photo_variant(photo, tint, size, rng)
                (folder / f"img_{i:04d}{suffix}").write_bytes(encoded(img, fmt))
            written["images"][split or "all"][cls] = n
            for rel, data in STRAYS.items():
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                (folder / rel).write_bytes(data)
                written["strays"] += 1
        if bad:  # a download cut off halfway, in the first class
            whole = encoded(photo_variant(cache[PHOTOS[0][0]], (1, 1, 1), size, rng), "JPEG")
            rel = Path(split) / names[0] / "broken_download.jpg"
            (root / rel).write_bytes(whole[: len(whole) // 2])
            written["bad"].append(rel.as_posix())
    (root / "README.txt").write_text("my photos, sorted into one folder per class\n")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=30)
    parser.add_argument("--test-per-class", type=int, default=8)
    parser.add_argument("--flat", action="store_true", help="PATH/<class>/ only (no train/test)")
    parser.add_argument("--size", type=int, nargs=2, default=(64, 160), metavar=("MIN", "MAX"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-bad", action="store_true", help="no truncated JPEG")
    args = parser.parse_args(argv)
    written = make_folder(
        args.path, args.classes, args.per_class, args.test_per_class, args.flat,
        tuple(args.size), args.seed, not args.no_bad,
    )  # fmt: skip
    total = sum(n for per in written["images"].values() for n in per.values())
    print(
        f"wrote {total} photos of {len(written['classes'])} classes under {args.path} "
        f"({'flat' if args.flat else 'train/ and test/'}), {written['strays']} stray files to "
        f"ignore and {len(written['bad'])} truncated JPEG(s) to leave out; classes: "
        + ", ".join(written["classes"])
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
