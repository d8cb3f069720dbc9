"""What was written is what is read back: a digest recorded when a file is written and checked
when a later run reuses it.

Atomic writes (``stylaug.core.io``) rule out the torn file a killed run would leave, but not a file
damaged afterwards - a copy cut short, a full disk, a bad block. torch and numpy read many such
files without complaint (zeroed bytes inside a checkpoint load as other weights) or fail without
naming the file. So every file that is reused carries a digest of its content, made at write:

* JSON files (the dataset index, the image-check cache): a ``sha256`` key over the rest;
* checkpoints: ``tensor_digest`` of their tensors, stored beside them in the same file;
* feature-cache shards: the file's sha256 is its name.

A mismatch is a ``DamagedFileError`` that names the file and what to do, or - for a cache - a
warning naming it, after which the entry is discarded and recomputed. Never reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from stylaug.core.io import atomic_write_json

log = logging.getLogger(__name__)

SEAL = "sha256"  # the key a sealed JSON file keeps its digest in


class DamagedFileError(ValueError):
    """A file whose content is not what was written: names the file, why, and what to do."""

    def __init__(self, path: str | os.PathLike, reason: str, remedy: str = ""):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path} is damaged: {reason}. {remedy}".strip())


def json_digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def write_sealed_json(path: str | os.PathLike, obj: dict) -> None:
    """``obj`` plus the digest of its content, written atomically."""
    atomic_write_json(path, {**obj, SEAL: json_digest(obj)})


def read_sealed_json(path: str | os.PathLike, remedy: str, required: bool = True) -> dict:
    """The content of a sealed JSON file, checked; ``required=False`` accepts a file written
    before files were sealed (no digest at all)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_bytes())
    except (UnicodeDecodeError, ValueError) as err:
        raise DamagedFileError(path, f"not valid JSON ({err})", remedy) from None
    if not isinstance(raw, dict):
        raise DamagedFileError(path, "not a JSON object", remedy)
    recorded = raw.pop(SEAL, None)
    if recorded is None and not required:
        return raw
    if recorded != json_digest(raw):
        why = "no digest recorded" if recorded is None else "content differs from its digest"
        raise DamagedFileError(path, why, remedy)
    return raw


def read_stamp(path: str | os.PathLike) -> dict | None:
    """A small JSON record of what made other files (a resume stamp): None if it is missing or
    damaged - the work it describes is then redone, never trusted."""
    path = Path(path)
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        log.warning("ignoring damaged %s (%s): the work it records is redone", path, err)
        return None
    if not isinstance(raw, dict):
        log.warning("ignoring damaged %s (not a JSON object): the work it records is redone", path)
        return None
    return raw


def tensor_digest(obj: Any) -> str:
    """sha256 over every tensor and plain value in nested dicts and lists (dtype, shape and bytes
    of each tensor; keys in sorted order): what a checkpoint's weights and state are."""
    import torch  # here, not at the top: reading an index or a stamp must not pay torch's import

    h = hashlib.sha256()

    def feed(x):
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(x, np.ndarray):
            h.update(f"A{x.dtype}{x.shape}".encode())
            h.update(np.ascontiguousarray(x).tobytes())
        elif isinstance(x, dict):
            h.update(b"{")
            for k in sorted(x, key=str):
                h.update(repr(k).encode())
                feed(x[k])
            h.update(b"}")
        elif isinstance(x, list | tuple):
            h.update(b"[")
            for v in x:
                feed(v)
            h.update(b"]")
        else:
            h.update(repr(x).encode())

    feed(obj)
    return h.hexdigest()
