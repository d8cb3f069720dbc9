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

# Per config node, the keys that cannot change what a stage makes, so changing them reuses its
# work: train_stylizer (stylizer), train_decoder (decoder), augment (augment; each family's own
# keys are added by the family) and classify (classifier). Everything else is identity.
RESULT_FREE_KEYS = {
    "stylizer": (
        "out_dir",
        "force",
        "resume",
        "checkpoint_every",
        "sample_images",
        "channels_last",
        "style_images",  # the files themselves are identified by their sha256
        "style_blend",  # normalised and recorded as style_blend
        "content_layers",  # resolved (null -> the network's defaults) and recorded below
        "style_layers",
        "group_size",  # how many stylizers share a step, not how one trains
    ),
    "decoder": (
        "out_dir",
        "force",
        "resume",
        "checkpoint_every",
        "sample_images",
    ),
    "augment": (
        "stylizer_dir",
        "tag",
        "out_dir",
        "scenarios",
        "seeds",
        "classes",
        "max_per_class",
        "batch_size",
        "channels_last",
        "write_threads",
        "score",
    ),
    "classifier": (
        "arms",
        "force",
        "results_file",
        "cache_dir",
        "num_workers",
        "feature_cache",  # cached and uncached heads see the same batches (tested)
        "augmented_dir",  # the stylized set is identified by what made it (StyleSet.fingerprint)
        "style_sources",
        "aug_views",  # part of the identity of traditional arms only (config_hash)
        "robustness",  # adds fields, never changes the clean result: in config_hash when on
        "quality_filter",  # part of the filtered style arm's identity only (its StyleSet.fingerprint)
    ),
}


def node_settings(node: DictConfig, exclude: Iterable[str] = ()) -> dict:
    """A config node as plain (resolved) data, minus the keys that cannot change the result."""
    data = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node)
    skip = set(exclude)
    return {k: v for k, v in data.items() if k not in skip}


def digest(obj, length: int = 16) -> str:
    """A short, stable sha256 of JSON-able data (dict order does not matter)."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]
