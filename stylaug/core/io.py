"""Atomic file writes: an interrupted run must never leave a half-written file behind.

Everything stylaug writes goes to a temporary name in the destination folder first and is then
renamed over the final name (``os.replace`` is atomic on POSIX and Windows), so a reader sees either
the old file, the new file, or no file - never a torn one. JSON-lines files (results, manifests)
grow by locked appends that repair a torn tail before writing, and read back without it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl  # POSIX: appends from concurrent jobs take turns
except ImportError:  # pragma: no cover - Windows: O_APPEND alone
    fcntl = None

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` if the block succeeds.

    ``suffix`` defaults to the destination's own suffix so that libraries which pick a format from
    the file name (PIL, matplotlib, torch) still do the right thing. A failed write (a full disk,
    a read-only folder) leaves ``path`` as it was and is an ``OSError`` that names ``path``.
    """
    path = Path(path)
    real_tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # ".name.<random>.tmp<suffix>": hidden, unique, and still ending in the format suffix.
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.stem}.",
            suffix=".tmp" + (path.suffix if suffix is None else suffix),
            dir=path.parent,
        )
        os.close(fd)
        real_tmp = Path(tmp)
        yield real_tmp
        os.chmod(real_tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
        os.replace(real_tmp, path)
    except OSError as err:
        raise naming(err, path) from err
    finally:
        if real_tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                real_tmp.unlink()


def naming(err: OSError, path: Path) -> OSError:
    """``err`` as an error about writing ``path`` - unless it already names another file (the
    block read something else) - so a full disk says which file it could not write."""
    if err.filename is not None and Path(err.filename).parent not in (path.parent, path):
        return err
    return type(err)(err.errno, f"cannot write {path}: {err.strerror or err}")


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
    """Append one JSON line, never glued onto the torn tail of an interrupted append.

    Under an exclusive lock on the file (concurrent jobs append one at a time, on NFS too), a
    tail without its newline - what a kill or a full disk leaves mid-append - is repaired first:
    a complete row that only lacks the newline gets it; a fragment is cut off (``ftruncate``, the
    same inode, so appenders waiting on the lock write to the file readers see). Then the line
    goes out in one ``write`` and is fsynced: a crash loses at most the line being written.
    """
    path = Path(path)
    line = (json.dumps(row, sort_keys=True) + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as err:
        raise naming(err, path) from err
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        _repair_tail(fd, path)
        written = os.write(fd, line)
        if written != len(line):  # a full disk: the torn part is repaired by the next append
            raise OSError(errno.ENOSPC, f"only {written} of {len(line)} bytes fit (disk full?)")
        os.fsync(fd)
    except OSError as err:
        raise naming(err, path) from err
    finally:
        os.close(fd)  # releases the lock


def _repair_tail(fd: int, path: Path) -> None:
    """Terminate or cut off an unterminated last line (the caller holds the file's lock)."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    start = size
    while start > 0:  # the last newline: lines are rarely longer than a chunk
        chunk = os.pread(fd, min(1 << 16, start), max(0, start - (1 << 16)))
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            start = start - len(chunk) + cut + 1
            break
        start -= len(chunk)
    tail = os.pread(fd, size - start, start)
    if _complete_row(tail):
        os.write(fd, b"\n")
        log.warning("%s: terminated an unterminated last line (a complete row)", path)
        return
    os.ftruncate(fd, start)
    log.warning(
        "%s: removed the incomplete last line (%d bytes at byte %d: an append that was "
        "interrupted) before appending",
        path, size - start, start,
    )  # fmt: skip


def _complete_row(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw.decode("utf-8")), dict)
    except (UnicodeDecodeError, ValueError):
        return False


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSON-lines file. An incomplete last line (no newline, not a whole row: an append
    that was interrupted) is dropped with a warning naming the file and line; any other line that
    is not a JSON object is an error naming them."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    lines = path.read_bytes().split(b"\n")
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        last = i == len(lines) - 1  # no newline after it
        if last and not _complete_row(raw):
            log.warning(
                "%s:%d: dropped an incomplete last line (%d bytes, no newline: an append that "
                "was interrupted); the next append removes it",
                path, i + 1, len(raw),
            )  # fmt: skip
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise ValueError(
                f"{path}:{i + 1}: not valid JSON ({err}); fix or remove that line"
            ) from err
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{i + 1}: not a JSON object; fix or remove that line")
        rows.append(row)
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
