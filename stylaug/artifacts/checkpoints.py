"""Where a training stage leaves its networks, and the command that makes the missing ones.

A stylizer is ``<stylizer dir>/<class>/<list id>.ckpt`` and a decoder ``<decoder dir>/<set id>.ckpt``:
named by the training list they learned from (``stylaug.artifacts.training_lists``), so a later stage
finds the network of each (scenario, seed) without asking the stage that trained it.
"""

from __future__ import annotations

from pathlib import Path

from stylaug.artifacts.dataset_names import class_override


def checkpoint_path(stylizer_dir, cls: str, identifier: str) -> Path:
    return Path(stylizer_dir) / cls / f"{identifier}.ckpt"


def _dataset(dataset: str) -> str:
    """A dataset name, or the overrides that select it (``dataset_names.dataset_override``)."""
    return dataset if "=" in dataset else f"dataset={dataset}"


def train_command(dataset: str, root, needed: dict[str, set], pool: str = "scenario") -> str:
    """The train_stylizer multirun that makes the stylizers of ``needed`` {class: {(scenario,
    seed)}} (pool=class: one per class, scenario and seed do not matter)."""
    parts = [f"python -m stylaug.train_stylizer -m {class_override(sorted(needed))}"]
    if pool == "scenario":
        scenarios = sorted({s for v in needed.values() for s, _ in v})
        seeds = sorted({seed for v in needed.values() for _, seed in v})
        parts += [f"scenario={','.join(scenarios)}", f"seed={','.join(map(str, seeds))}"]
    else:
        parts.append(f"stylizer.pool={pool}")
    parts.append(_dataset(dataset))
    if str(root) != ".":
        parts.append(f"paths.root={root}")
    return " ".join(parts)


def decoder_path(out_dir, identifier: str) -> Path:
    return Path(out_dir) / f"{identifier}.ckpt"


def decoder_command(dataset: str, root, needed: dict[str, set], pool: str = "scenario") -> str:
    """The train_decoder multirun that makes the decoders of ``needed`` {id: {(scenario, seed)}}."""
    scenarios = sorted({s for v in needed.values() for s, _ in v})
    seeds = sorted({seed for v in needed.values() for _, seed in v})
    parts = [f"python -m stylaug.train_decoder -m scenario={','.join(scenarios)}"]
    parts += [f"seed={','.join(map(str, seeds))}", _dataset(dataset)]
    if pool != "scenario":
        parts.append(f"stylizer.pool={pool}")
    if str(root) != ".":
        parts.append(f"paths.root={root}")
    return " ".join(parts)
