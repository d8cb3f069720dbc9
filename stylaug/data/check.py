"""Decode every indexed image once, at ``prepare_data``, so no later stage meets an unreadable one.

A truncated download in a 20,000-image copy otherwise surfaces hours later, when a scenario happens
to draw it. Here each file is decoded with the very function the stages use (``load_rgb``, bounded
decode included); unreadable files - and files a listing names that are not on disk - are left out
of the index and listed in its ``meta.bad_images``, or stop ``prepare_data`` with
``data.on_bad_image=error``.

Verdicts are cached in ``image_check.json`` next to ``index.json``, keyed by the path relative to
the dataset root and checked against the file's (size, mtime_ns): a rerun decodes only new or
changed files. The cache carries the digest of its content; a damaged one is named and ignored.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import PIL
from tqdm import tqdm

from stylaug.core.integrity import read_sealed_json, write_sealed_json
from stylaug.data.images import MAX_SIDE, BadImageError, check_on_bad_image, load_rgb
from stylaug.data.index import DatasetIndex

log = logging.getLogger(__name__)

CACHE_NAME = "image_check.json"
# A verdict is only as good as the decoder that gave it: another Pillow or cap re-checks everything.
CHECKER = f"stylaug.load_rgb/1 max_side={MAX_SIDE} pillow={PIL.__version__}"
MISSING = "listed but missing on disk"
SAVE_EVERY_S = 30.0  # an interrupted check of a large copy keeps most of its work
SHOWN = 5  # bad files named in log lines and error messages; the full list is in the index


class UnreadableImagesError(BadImageError):
    """``data.on_bad_image=error`` and the check found unreadable files (all of them listed)."""

    def __init__(self, root: Path, bad: list[dict], cache: Path):
        super().__init__(root / bad[0]["path"], bad[0]["reason"])
        self.bad = bad
        lines = "\n".join(f"  {root / b['path']}: {b['reason']}" for b in bad[:SHOWN])
        more = f"\n  ... and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
        self.args = (
            f"{len(bad)} unreadable image file(s) under {root} (data.on_bad_image=error):\n"
            f"{lines}{more}\nReplace or delete these files (every verdict is in {cache}), or run "
            "with data.on_bad_image=skip to leave them out of the index "
            "(they are then listed in index.json meta.bad_images).",
        )


class EmptyClassError(ValueError):
    """A class with no readable images in a split: no scenario can be drawn from it."""


def _load_cache(path: Path, root: str) -> dict[str, dict]:
    """Cached verdicts for this root and checker, or none (an unreadable cache is just redone)."""
    try:
        raw = read_sealed_json(path, remedy="")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:  # DamagedFileError included: never trusted
        log.warning("ignoring unreadable image-check cache (%s); checking every image", err)
        return {}
    if not isinstance(raw, dict) or raw.get("checker") != CHECKER or raw.get("root") != root:
        return {}
    files = raw.get("files")
    return files if isinstance(files, dict) else {}


def _verdict(path: Path) -> str | None:
    """None if ``path`` decodes, else why not."""
    try:
        load_rgb(path)
    except BadImageError as err:
        return err.reason
    return None


def check_images(
    index: DatasetIndex, cache_path: str | Path, on_bad_image: str = "skip"
) -> DatasetIndex:
    """Return ``index`` without its unreadable files, which ``meta.bad_images`` lists.

    Raises ``UnreadableImagesError`` (policy ``error``, after checking every file, naming them all)
    or ``EmptyClassError`` (a class left with no images in a split).
    """
    check_on_bad_image(on_bad_image)
    root = Path(index.root).resolve()
    rels = sorted({r for per in index.files.values() for v in per.values() for r in v})
    verdicts = _verdicts(root, rels, Path(cache_path))
    bad, files = [], {}
    for split, per_class in index.files.items():
        files[split] = {}
        for cls, paths in per_class.items():
            files[split][cls] = [r for r in paths if verdicts[r] is None]
            bad += [
                {"path": r, "reason": verdicts[r], "split": split, "class": cls}
                for r in paths
                if verdicts[r] is not None
            ]
    bad.sort(key=lambda b: b["path"])
    if bad and on_bad_image == "error":
        raise UnreadableImagesError(root, bad, cache_path)
    _check_no_class_is_empty(files, bad, root)
    meta = dict(index.meta)
    meta.update(bad_images=bad, bad_image_count=len(bad), checked_images=len(rels))
    return DatasetIndex(index.name, index.root, list(index.classes), files, meta)


def _verdicts(root: Path, rels: list[str], cache_path: Path) -> dict[str, str | None]:
    """Per file: None (readable) or why not. Cached verdicts of unchanged files are re-used; the
    cache is saved now and then during a long check, so an interrupted check resumes."""
    cached = _load_cache(cache_path, str(root))
    verdicts: dict[str, str | None] = {}
    entries: dict[str, dict] = {}  # what the cache will hold: this index's files that exist
    todo: list[tuple[str, int, int]] = []
    for rel in rels:
        try:
            st = os.stat(root / rel)
        except OSError:
            verdicts[rel] = MISSING
            continue
        hit = cached.get(rel)
        if (
            isinstance(hit, dict)
            and hit.get("size") == st.st_size
            and hit.get("mtime_ns") == st.st_mtime_ns
        ):
            verdicts[rel] = hit.get("reason")
            entries[rel] = hit
        else:
            todo.append((rel, st.st_size, st.st_mtime_ns))

    def save() -> None:
        write_sealed_json(cache_path, {"checker": CHECKER, "root": str(root), "files": entries})

    last_save = time.monotonic()
    for rel, size, mtime_ns in tqdm(
        todo, desc="checking images", unit="img", disable=not todo, mininterval=1.0
    ):
        verdicts[rel] = _verdict(root / rel)
        entries[rel] = {"size": size, "mtime_ns": mtime_ns, "reason": verdicts[rel]}
        if time.monotonic() - last_save > SAVE_EVERY_S:
            save()
            last_save = time.monotonic()
    save()  # also drops entries of files no longer indexed
    log.info(
        "checked %d images under %s: %d decoded now, %d verdicts re-used from %s",
        len(rels), root, len(todo), len(rels) - len(todo), cache_path,
    )  # fmt: skip
    return verdicts


def _check_no_class_is_empty(files: dict, bad: list[dict], root: Path) -> None:
    for split, per_class in files.items():
        for cls, paths in per_class.items():
            if paths:
                continue
            lost = [b for b in bad if b["split"] == split and b["class"] == cls]
            shown = "; ".join(f"{b['path']}: {b['reason']}" for b in lost[:SHOWN])
            why = (
                f"all {len(lost)} of its files are unreadable ({shown})"
                if lost
                else "none are listed"
            )
            raise EmptyClassError(
                f"class {cls} has no readable {split} images under {root}: {why}. Replace the "
                "unreadable files with readable images (or add images) and rerun prepare_data."
            )


def bad_image_summary(index: DatasetIndex, where: str | Path) -> str | None:
    """One line naming the count and first few files left out, and where the full list is."""
    bad = index.meta.get("bad_images") or []
    if not bad:
        return None
    shown = ", ".join(f"{b['path']} ({b['reason']})" for b in bad[:SHOWN])
    more = f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
    return (
        f"{len(bad)} unreadable image(s) left out of dataset {index.name!r} (root {index.root}): "
        f"{shown}{more}; full list: {where} (meta.bad_images)"
    )
