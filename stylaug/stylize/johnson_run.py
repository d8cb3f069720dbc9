"""``python -m stylaug.stylize method=johnson checkpoint=PATH input=FILE_OR_DIR output=DIR``:
apply a trained stylizer to one image or a folder, batched by image size, at any size.

``preserve_color=true`` keeps the input's colours; ``mask=PATH`` blends stylized and input with a
grayscale mask (white = stylized); ``compare=true`` writes ``compare.png`` (inputs | stylized). A
rerun with the same settings skips finished outputs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from omegaconf import DictConfig
from PIL import Image
from tqdm import tqdm

from stylaug.core.integrity import read_stamp
from stylaug.core.io import atomic_write_json, file_digest
from stylaug.core.runtime import device_for
from stylaug.data.images import (
    IMAGE_SUFFIXES,
    check_on_bad_image,
    fit_size,
    load_mask,
    load_rgb,
    read_image,
)
from stylaug.data.visual import comparison_grid, save_image, to_tensor
from stylaug.models.stylizer import load_stylizer, stylize_batch, stylizer_hash

log = logging.getLogger(__name__)

WRITE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def list_inputs(path, exclude: Path | None = None) -> tuple[Path, list[Path]]:
    """(base folder, image files) for ``input=FILE_OR_DIR``; outputs inside it are left out."""
    if path is None:
        raise ValueError("input is not set: give input=PATH to an image file or a folder")
    path = Path(path)
    if path.is_file():
        return path.parent, [path]
    if not path.is_dir():
        raise ValueError(f"input={path} does not exist: give an image file or a folder of images")
    out = exclude.resolve() if exclude is not None else None
    files = sorted(
        p
        for p in path.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and not (out is not None and p.resolve().is_relative_to(out))
    )
    if not files:
        raise ValueError(f"input={path} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    return path, files


def load_checkpoint(path):
    if path is None:
        raise ValueError("checkpoint is not set: give checkpoint=PATH to a trained stylizer")
    return load_stylizer(path)  # clear errors for a missing file or a file of another kind


def _size_batches(sizes: dict[Path, tuple[int, int]], batch_size: int) -> list[list[Path]]:
    """Group files of equal size so they can be stacked into one batch."""
    groups: dict[tuple[int, int], list[Path]] = {}
    for path, size in sizes.items():
        groups.setdefault(size, []).append(path)
    return [
        files[i : i + batch_size]
        for files in groups.values()
        for i in range(0, len(files), batch_size)
    ]


def run(cfg: DictConfig) -> dict:
    """Apply a trained stylizer to one image or a folder; one PNG per input under ``output``."""
    check_on_bad_image(cfg.data.on_bad_image)
    if cfg.output is None:
        raise ValueError("output is not set: give output=DIR for the stylized images")
    out_dir = Path(cfg.output)
    if out_dir.suffix.lower() in WRITE_SUFFIXES:
        raise ValueError(f"output={out_dir} looks like a file; method=johnson writes to a folder")
    net, meta = load_checkpoint(cfg.checkpoint)
    base, files = list_inputs(cfg.input, exclude=out_dir)
    if int(cfg.johnson.batch_size) < 1:
        raise ValueError(f"johnson.batch_size={cfg.johnson.batch_size} must be at least 1")
    settings = {
        "method": "johnson",
        "checkpoint": stylizer_hash(cfg.checkpoint),
        "image_size": cfg.johnson.image_size,
        "preserve_color": bool(cfg.preserve_color),
        "mask": file_digest(cfg.get("mask")),
    }
    stamp = out_dir / ".stylize.json"
    resume = (read_stamp(stamp) or {}).get("settings") == settings
    atomic_write_json(stamp, {"settings": settings, "stylizer": _jsonable(meta)})

    def target(path: Path) -> Path:
        return out_dir / path.relative_to(base).with_suffix(".png")

    todo = [p for p in files if not (resume and target(p).exists())]
    written, skipped = stylize_files(cfg, net, todo, target)
    log.info(
        "stylized %d images into %s (%d already done, %d unreadable skipped)",
        len(written), out_dir, len(files) - len(todo), len(skipped),
    )  # fmt: skip
    if cfg.compare:
        shown = [p for p in files if target(p).exists()][:8]
        items = [(p.name, load_rgb(p)) for p in shown] + [
            (f"stylized {p.name}", load_rgb(target(p))) for p in shown
        ]
        grid = comparison_grid(items, cell=128, title="inputs | stylized")
        save_image(grid, out_dir / "compare.png")
    return {"output": out_dir, "written": written, "skipped": skipped}


def stylize_files(cfg: DictConfig, net, files: list[Path], target) -> tuple[list, list]:
    """Stylize ``files`` in batches of equal size, each into ``target(file)``: (written, skipped)."""
    sizes, skipped = {}, []
    for path in files:  # headers only: group by size, find unreadable files early
        try:
            with Image.open(path) as img:
                sizes[path] = fit_size(img.size, cfg.johnson.image_size)
        except Exception:
            if read_image(path, cfg.data.on_bad_image) is None:
                skipped.append(path)
    device = device_for(cfg)
    net = net.to(device).eval()
    masks = {}
    if cfg.get("mask"):
        for w, h in set(sizes.values()):  # checked for every size before any stylization
            masks[(w, h)] = load_mask(cfg.mask, (h, w)).to(device)
    written = []
    batches = _size_batches(sizes, int(cfg.johnson.batch_size))
    with torch.inference_mode():
        for batch in tqdm(batches, desc="stylizing", unit="batch", disable=not cfg.progress):
            x, paths = read_batch(batch, sizes, cfg.data.on_bad_image, skipped)
            if not paths:
                continue
            x = x.to(device)
            y = stylize_batch(net, x, cfg.preserve_color)
            if masks:
                m = masks[sizes[paths[0]]]
                y = m * y + (1 - m) * x
            written += [save_image(out[None], target(p)) for p, out in zip(paths, y, strict=True)]
    return written, skipped


def read_batch(batch: list[Path], sizes: dict, on_bad_image: str, skipped: list):
    """(images (N, 3, H, W) at their planned size, their paths); unreadable ones go to skipped."""
    images, paths = [], []
    for path in batch:
        img = read_image(path, on_bad_image)
        if img is None:
            skipped.append(path)
            continue
        size = sizes[path]
        images.append(to_tensor(img if img.size == size else img.resize(size, Image.BICUBIC)))
        paths.append(path)
    return (torch.cat(images) if images else None), paths


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))
