"""An augmented set on disk: its images, its ``manifest.jsonl``, and how the two are kept in step.

Each stylized image is written to a temp name and renamed, then its manifest line is appended, so
after a crash or SIGKILL the files with a line are exactly the finished images. Each line records
the sha256 of its image. ``reconcile`` restores that invariant (drops stale, duplicate and torn
lines and the lines of damaged images, deletes orphans) before a rerun resumes (``stylaug.augment.manifest_writer`` writes images and lines during generation).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from stylaug.core.io import atomic_write_text, file_sha256, read_jsonl

log = logging.getLogger(__name__)

# per-image quality a generator scores, in this order: edge correlation with the source, Gram
# distance to the style image, and the source's own Gram distance to it (stylaug.models.image_scores)
SCORE_KEYS = ("content_score", "gram_distance", "source_gram_distance")

MANIFEST = "manifest.jsonl"
FORMATS = {"png": ("PNG", "png"), "jpeg": ("JPEG", "jpg")}


def reconcile(out_dir: Path, wanted: dict[str, dict]) -> dict[str, dict]:
    """Make the manifest and the files agree, for the stylizers in ``wanted`` ({stylizer id:
    {class, stylizer, settings}}): keep rows whose file exists and whose stylizer and settings are
    current (one per output), delete files without a row (a killed run's orphans and temp files).
    Returns the kept rows by output. Rows of other stylizers are left alone."""
    manifest = out_dir / MANIFEST
    rows = read_jsonl(manifest)
    keep: dict[str, dict] = {}
    bad = []
    for row in rows:
        current = wanted.get(row.get("stylizer_id"))
        if current is not None and (
            row.get("stylizer") != current["stylizer"]
            or row.get("settings") != current["settings"]
            or not (out_dir / row["output"]).is_file()
        ):
            continue
        if current is not None and damaged(out_dir, row):
            bad.append(row["output"])
            continue
        keep[row["output"]] = row  # a repeated output: the last line wins
    if bad:
        log.warning(
            "%s: %d images differ from the sha256 recorded when they were written (damaged), "
            "e.g. %s: they are made again", out_dir, len(bad), ", ".join(bad[:3]),
        )  # fmt: skip
    torn = (
        manifest.is_file() and manifest.stat().st_size and not manifest.read_bytes().endswith(b"\n")
    )
    if len(keep) != len(rows) or torn:  # a torn last line (killed mid-append) must go too
        dropped = len(rows) - len(keep) + bool(torn)
        log.info("manifest: dropped %d stale, duplicate or torn lines", dropped)
        atomic_write_text(
            manifest, "".join(json.dumps(r, sort_keys=True) + "\n" for r in keep.values())
        )
    removed = 0
    for sid, current in wanted.items():
        folder = out_dir / current["class"] / sid
        for f in folder.iterdir() if folder.is_dir() else ():
            if f.is_file() and f"{current['class']}/{sid}/{f.name}" not in keep:
                f.unlink()
                removed += 1
    if removed:
        log.info("removed %d files without a manifest line (from an interrupted run)", removed)
    return keep


def damaged(out_dir: Path, row: dict) -> bool:
    """Whether a listed image's bytes differ from the sha256 recorded when it was written (rows
    written before images were hashed have none and pass)."""
    recorded = row.get("sha256")
    return recorded is not None and file_sha256(Path(out_dir) / row["output"]) != recorded


def quality_of(rows: list[dict]) -> dict:
    """Mean content score and Gram-distance ratio (the stylized images' mean distance to the style
    over their sources') of manifest rows; None where they were made without scores."""
    scored = [r for r in rows if "content_score" in r]
    if not scored:
        return {"images": len(rows), "content_score": None, "gram_ratio": None}
    source = float(np.mean([r["source_gram_distance"] for r in scored]))
    ratio = float(np.mean([r["gram_distance"] for r in scored])) / source if source > 0 else None
    return {
        "images": len(rows),
        "content_score": round(float(np.mean([r["content_score"] for r in scored])), 4),
        "gram_ratio": None if ratio is None else round(ratio, 4),
    }
