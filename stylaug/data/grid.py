"""Labelled image grids: the quickest way for a person to see what a stage produced."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from stylaug.io import atomic_path


def image_grid(
    rows: list[tuple[str, list[Image.Image]]],
    cell: int = 96,
    label_width: int = 110,
    title: str | None = None,
) -> Image.Image:
    """One row per (label, images); every image is resized to ``cell`` x ``cell``."""
    ncols = max((len(images) for _, images in rows), default=1)
    top = 18 if title else 0
    grid = Image.new("RGB", (label_width + ncols * cell, top + len(rows) * cell), "white")
    draw = ImageDraw.Draw(grid)
    if title:
        draw.text((4, 3), title, fill="black")
    for r, (label, images) in enumerate(rows):
        y = top + r * cell
        draw.text((4, y + cell // 2 - 6), label, fill="black")
        for c, img in enumerate(images):
            grid.paste(img.convert("RGB").resize((cell, cell)), (label_width + c * cell, y))
    return grid


def save_png(img: Image.Image, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return Path(path)
