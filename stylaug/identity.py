"""What decides whether finished work is reused: a digest of whole config nodes.

Each stage hashes its config nodes *minus an explicit list of keys that cannot change the result*
(output folders, force, resume, logging, worker counts, ...). Listing the exceptions instead of
the keys that matter means a key added later is part of the identity by default, so a new setting
can never silently reuse a checkpoint, a stylized set or a result made without it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from omegaconf import DictConfig, OmegaConf


def node_settings(node: DictConfig, exclude: Iterable[str] = ()) -> dict:
    """A config node as plain (resolved) data, minus the keys that cannot change the result."""
    data = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node)
    skip = set(exclude)
    return {k: v for k, v in data.items() if k not in skip}


def digest(obj, length: int = 16) -> str:
    """A short, stable sha256 of JSON-able data (dict order does not matter)."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]
