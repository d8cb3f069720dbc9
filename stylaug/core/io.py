"""Atomic file writes: an interrupted run must never leave a half-written file behind.

Everything stylaug writes goes to a temporary name in the destination folder first and is then
renamed over the final name (``os.replace`` is atomic on POSIX and Windows), so a reader sees either
the old file, the new file, or no file - never a torn one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` if the block succeeds.

    ``suffix`` defaults to the destination's own suffix so that libraries which pick a format from
    the file name (PIL, matplotlib, torch) still do the right thing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # ".name.<random>.tmp<suffix>": hidden, unique, and still ending in the format suffix.
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.",
        suffix=".tmp" + (path.suffix if suffix is None else suffix),
        dir=path.parent,
    )
    os.close(fd)
    real_tmp = Path(tmp)
    try:
        yield real_tmp
        os.chmod(real_tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
        os.replace(real_tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            real_tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def append_jsonl(path: str | os.PathLike, row: dict) -> None:
    """Append one JSON line with a single ``write`` on an O_APPEND descriptor, then fsync.

    A crash can at worst lose the line being written; ``read_jsonl`` drops a torn final line, so
    readers never see a partial row.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(row, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSON-lines file, dropping a torn (unterminated, unparsable) final line."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    lines = path.read_text(encoding="utf-8").split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            if i == len(lines) - 1:  # torn last line from an interrupted append: ignore it
                continue
            raise ValueError(
                f"{path}:{i + 1}: not valid JSON ({err}); fix or remove that line"
            ) from err
    return rows


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks: what a file *is*, wherever it lives."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: str | os.PathLike | None) -> str | None:
    """A short content id of an optional input file (16 hex digits of sha256)."""
    return None if path is None else file_sha256(path)[:16]
