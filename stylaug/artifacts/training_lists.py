"""Which images a stylizer trains on (``stylizer.pool``), and how that list names it.

A stylizer is a function of its training list. With ``pool=scenario`` (the default, leak-free) the
class's stylizer for a (scenario, seed) trains on exactly that scenario's training images of the
class, and its style image is drawn from them; with ``pool=class`` (the paper's protocol) it trains
on the class's whole training pool, which also holds every scenario's validation images - every
result made that way carries ``LEAK_NOTE``. A stylizer is named by its list
(``<class>/<list id>.ckpt``), and its seed and default style image are drawn from the list id too,
so scenarios (or seeds) with identical lists share one stylizer, and ``pool=class`` gives one
stylizer per class.
"""

from __future__ import annotations

import hashlib
import json

from stylaug.data.index import DatasetIndex
from stylaug.data.scenarios import ScenarioSplit

POOLS = ("scenario", "class")
LEAK_NOTE = "stylizer saw images outside the training set"


def check_pool(pool: str) -> str:
    if pool not in POOLS:
        raise ValueError(
            f"stylizer.pool={pool!r} is not valid; use scenario (each scenario's own training "
            "images, leak-free) or class (the paper's protocol: the class's whole training pool)"
        )
    return pool


def training_list(index: DatasetIndex, split: ScenarioSplit | None, cls: str, pool: str) -> list:
    """The images the stylizer of ``cls`` trains on: the scenario's training list or the pool."""
    if check_pool(pool) == "class":
        return list(index.paths("train", cls))
    if split is None:
        raise ValueError("stylizer.pool=scenario needs a scenario split to take the images from")
    return list(split.train[cls])


def list_id(index: DatasetIndex, images) -> str:
    """Names a training list: the dataset (and its generator settings) and the sorted file list."""
    blob = json.dumps([index.name, index.meta.get("settings"), sorted(images)])
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def list_seed(identifier: str) -> int:
    """The stylizer's seed (initialisation, shuffling, default style image), from its list id."""
    return int(identifier[:8], 16)
