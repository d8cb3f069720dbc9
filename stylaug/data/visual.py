"""Pictures for a person: tensor <-> PIL, labelled grids, and the notes every output carries.

Every stage writes a sample grid of what it made (``samples.png``); they all go through
``write_grid``, so every grid made from the synthetic dataset says so in its title.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from stylaug.core.io import atomic_path

SYNTHETIC_NOTE = "synthetic procedural data: results on it are smoke results, never paper results"
RANDOM_NOTE = "random-init network: a smoke result, not comparable to ImageNet results"


def data_notes(dataset: str, *weights: str) -> list[str]:
    """The notes a result, checkpoint or image set made from ``dataset`` with ``weights`` carries."""
    notes = [SYNTHETIC_NOTE] if dataset == "synthetic" else []
    if any("random-init" in w for w in weights):
        notes.append(RANDOM_NOTE)
    return notes


_NOTED: set[str] = set()


def log_notes(logger: logging.Logger, notes, level: int = logging.INFO) -> None:
    """Log each note once per process: a study runs dozens of stylizers and heads, and the same
    caveat on every one of them would bury the log (every record still carries its notes)."""
    for note in notes:
        if note not in _NOTED:
            _NOTED.add(note)
            logger.log(level, "%s", note)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB -> (1, 3, H, W) float tensor in [0, 1]."""
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) or (1, 3, H, W) tensor in [0, 1] (clamped) -> PIL RGB."""
    t = image.detach().float().clamp(0, 1)
    t = t[0] if t.dim() == 4 else t
    return Image.fromarray(np.rint(t.permute(1, 2, 0).cpu().numpy() * 255).astype(np.uint8))


def save_image(image: torch.Tensor | Image.Image, path, **options) -> Path:
    """Write atomically; the format follows the file name's suffix."""
    img = to_pil(image) if isinstance(image, torch.Tensor) else image
    with atomic_path(path) as tmp:
        img.save(tmp, **options)
    return Path(path)


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


def comparison_grid(items: list[tuple[str, Image.Image]], cell: int = 192, title: str = ""):
    """Images side by side, each with its caption underneath (like the papers' figures)."""
    top, caption = (18 if title else 0), 30
    grid = Image.new("RGB", (len(items) * cell, top + cell + caption), "white")
    draw = ImageDraw.Draw(grid)
    if title:
        draw.text((4, 3), title, fill="black")
    for i, (label, img) in enumerate(items):
        img = img.convert("RGB")
        scale = cell / max(img.size)
        thumb = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
        grid.paste(thumb, (i * cell + (cell - thumb.width) // 2, top + (cell - thumb.height) // 2))
        chars = cell // 6
        for j, line in enumerate([label[k : k + chars] for k in range(0, len(label), chars)][:2]):
            draw.text((i * cell + 3, top + cell + 2 + 13 * j), line, fill="black")
    return grid


def write_grid(rows, path, title: str, dataset: str, **options) -> Path:
    """A labelled sample grid as PNG; grids of synthetic data say so in their title."""
    if dataset == "synthetic":
        title += " (SYNTHETIC: smoke data)"
    return save_image(image_grid(rows, title=title, **options), path, format="PNG")
