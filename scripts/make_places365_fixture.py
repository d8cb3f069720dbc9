"""Write a small Places365 *easyformat* tree of real photos, with bad and odd files planted in it.

    python scripts/make_places365_fixture.py PATH [--train-per-class 60 --val-per-class 12]

makes ``PATH/places365_standard/{train,val}/<desert-sand|hot_spring|ocean|skyscraper>/*.jpg``:
256x256 JPEGs (quality 90, like Places365) cut from scikit-learn's two sample photos (china.jpg,
flower.jpg) by random crops, scales, flips and mild colour changes, so the whole pipeline can run
on real-photo statistics offline:

    python -m stylaug.pipeline experiment=demo dataset=places365 dataset.source=PATH \\
        dataset.scenario_scale=0.01

The images are not scenes of their classes (each class only leans on one photo and a tint): the
tree tests plumbing and robustness, never whether style augmentation helps. The planted files are
what real collections contain - zero-byte, truncated and mislabelled files that ``prepare_data``
must leave out, and CMYK, 16-bit, palette+alpha, EXIF-rotated, 1x4000 and 12000x12000 images that
it must keep.
"""

from __future__ import annotations

import argparse
import io
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

SIZE = 256  # Places365's "small" images
QUALITY = 90
# class folder (easyformat name) -> (sample photo, RGB tint): a weak, learnable difference
CLASSES = {
    "desert-sand": ("china.jpg", (1.12, 1.0, 0.82)),
    "hot_spring": ("flower.jpg", (1.0, 1.05, 1.0)),
    "ocean": ("china.jpg", (0.82, 0.95, 1.15)),
    "skyscraper": ("flower.jpg", (0.9, 0.9, 0.95)),
}


def sample_photos() -> dict[str, Image.Image]:
    from sklearn.datasets import load_sample_images  # shipped with scikit-learn: no download

    data = load_sample_images()
    return {
        Path(name).name: Image.fromarray(arr)
        for name, arr in zip(data.filenames, data.images, strict=True)
    }


def photo_variant(photo: Image.Image, tint, rng: np.random.Generator) -> Image.Image:
    """A random square crop (scale and place), resized to SIZE, maybe mirrored, colour-jittered."""
    w, h = photo.size
    side = int(rng.uniform(0.35, 1.0) * min(w, h))
    left, top = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    img = photo.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.BICUBIC)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.85, 1.15))
    img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.85, 1.15))
    img = ImageEnhance.Color(img).enhance(rng.uniform(0.8, 1.2))
    arr = np.asarray(img, dtype=np.float32) * np.asarray(tint, dtype=np.float32)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=QUALITY, **kw)
    return buf.getvalue()


def png16_bytes(arr: np.ndarray) -> bytes:
    """A 16-bit PNG (gray HxW or RGB HxWx3, uint16): Pillow cannot write 16-bit RGB itself."""
    h, w = arr.shape[:2]
    colour_type = 2 if arr.ndim == 3 else 0
    rows = arr.astype(">u2").reshape(h, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def exif_rotated_jpeg(upright: Image.Image) -> bytes:
    """Pixels stored sideways with EXIF orientation 6 ("rotate 90 degrees clockwise to view")."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg_bytes(upright.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes())


def png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def planted_files(photos: dict[str, Image.Image], rng) -> list[tuple[str, bytes, str]]:
    """(path under places365_standard/, bytes, what it is); "bad_" files must be left out."""
    china, flower = photos["china.jpg"], photos["flower.jpg"]
    base = photo_variant(china, (1, 1, 1), rng)
    good_jpeg = jpeg_bytes(base)
    good_png = png_bytes(photo_variant(flower, (1, 1, 1), rng))
    deep = np.asarray(base, dtype=np.uint16) * 257  # the full 16-bit range
    palette = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    wide = china.resize((SIZE, SIZE * 3 // 4), Image.BICUBIC)  # upright landscape, 256x192
    rgba = photo_variant(flower, (1, 1, 1), rng).convert("RGBA")
    rgba.putalpha(200)
    ocean = "train/ocean"
    return [
        (f"{ocean}/bad_zero_byte.jpg", b"", "zero bytes"),
        (f"{ocean}/bad_truncated.jpg", good_jpeg[: len(good_jpeg) // 2], "JPEG cut off halfway"),
        (f"{ocean}/bad_not_an_image.jpg", b"<html>404 Not Found</html>\n", "text named .jpg"),
        (f"{ocean}/odd_cmyk.jpg", jpeg_bytes(base.convert("CMYK")), "CMYK JPEG"),
        (f"{ocean}/odd_16bit_rgb.png", png16_bytes(deep), "16-bit RGB PNG"),
        (f"{ocean}/odd_16bit_gray.png", png16_bytes(deep[..., 1]), "16-bit grayscale PNG"),
        (
            f"{ocean}/odd_palette_alpha.png",
            png_bytes(palette, transparency=0),
            "palette PNG, entry 0 transparent",
        ),
        (
            f"{ocean}/odd_exif_rotated.jpg",
            exif_rotated_jpeg(wide),
            "stored 192x256 with EXIF orientation 6; upright it is 256x192",
        ),
        (f"{ocean}/odd_1x4000.png", png_bytes(china.resize((1, 4000))), "1x4000 px strip"),
        (
            f"{ocean}/odd_12000x12000.jpg",
            jpeg_bytes(china.resize((12000, 12000), Image.BILINEAR)),
            "12000x12000 px JPEG: 432 MB if decoded in full",
        ),
        ("train/desert-sand/bad_truncated.png", good_png[:4000], "PNG cut off"),
        ("train/hot_spring/odd_rgba.png", png_bytes(rgba), "RGBA PNG, partly transparent"),
        ("val/skyscraper/bad_zero_byte.jpg", b"", "zero bytes, in the test split"),
    ]


def make_fixture(
    path: str | Path, train_per_class: int = 60, val_per_class: int = 12, seed: int = 0
) -> dict[str, list]:
    """Write the tree; return {"photos": [rel...], "planted": [(rel, what)...]} (relative to
    ``path/places365_standard``)."""
    if train_per_class < 1 or val_per_class < 1:
        raise ValueError("need at least one train and one val image per class")
    base = Path(path) / "places365_standard"
    photos = sample_photos()
    rng = np.random.default_rng(seed)
    written: dict[str, list] = {"photos": [], "planted": []}

    def write(rel: str, data: bytes) -> None:
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(data)

    for split, n in (("train", train_per_class), ("val", val_per_class)):
        for folder, (photo, tint) in CLASSES.items():
            for i in range(n):
                rel = f"{split}/{folder}/{i + 1:08d}.jpg"
                write(rel, jpeg_bytes(photo_variant(photos[photo], tint, rng)))
                written["photos"].append(rel)
    for rel, data, what in planted_files(photos, rng):
        write(rel, data)
        written["planted"].append((rel, what))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="folder to write places365_standard/ into")
    parser.add_argument("--train-per-class", type=int, default=60)
    parser.add_argument("--val-per-class", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    written = make_fixture(args.path, args.train_per_class, args.val_per_class, args.seed)
    root = Path(args.path) / "places365_standard"
    print(
        f"wrote {len(written['photos'])} real-photo JPEGs ({SIZE}x{SIZE}, quality {QUALITY}) "
        f"under {root}: {args.train_per_class} train + {args.val_per_class} val for each of "
        f"{', '.join(CLASSES)}"
    )
    for bad in (True, False):
        rows = [(r, w) for r, w in written["planted"] if Path(r).name.startswith("bad_") == bad]
        print(
            f"planted {len(rows)} "
            + (
                "unreadable files (prepare_data must leave them out):"
                if bad
                else "odd but readable files (prepare_data must keep them):"
            )
        )
        for rel, what in rows:
            print(f"  {rel}: {what}")
    print(f"next: python -m stylaug.prepare_data dataset=places365 dataset.source={args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
