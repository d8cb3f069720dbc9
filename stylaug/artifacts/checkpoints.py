"""Where a training stage leaves its networks, and the command that makes the missing ones.

A stylizer is ``<stylizer dir>/<class>/<list id>.ckpt`` and a decoder ``<decoder dir>/<set id>.ckpt``:
named by the training list they learned from (``stylaug.artifacts.training_lists``), so a later stage
finds the network of each (scenario, seed) without asking the stage that trained it.
"""

from __future__ import annotations

from pathlib import Path

from stylaug.artifacts.dataset_names import class_override
from stylaug.core.commands import command_line


def checkpoint_path(stylizer_dir, cls: str, identifier: str) -> Path:
    return Path(stylizer_dir) / cls / f"{identifier}.ckpt"


def train_command(
    dataset: str | list[str], root, needed: dict[str, set], pool: str = "scenario"
) -> str:
    """The train_stylizer multirun that makes the stylizers of ``needed`` {class: {(scenario,
    seed)}} (pool=class: one per class, scenario and seed do not matter), with this run's
    overrides (``stylaug.core.commands``)."""
    classes = sorted(needed)
    args = ["-m", class_override(classes)]
    if pool == "scenario":
        scenarios = sorted({s for v in needed.values() for s, _ in v})
        seeds = sorted({seed for v in needed.values() for _, seed in v})
        args += [f"scenario={','.join(scenarios)}", f"seed={','.join(map(str, seeds))}"]
    else:
        args.append(f"stylizer.pool={pool}")
    return command_line("train_stylizer", args, dataset, root)


def decoder_path(out_dir, identifier: str) -> Path:
    return Path(out_dir) / f"{identifier}.ckpt"


def decoder_command(
    dataset: str | list[str], root, needed: dict[str, set], pool: str = "scenario"
) -> str:
    """The train_decoder multirun that makes the decoders of ``needed`` {id: {(scenario, seed)}},
    with this run's overrides."""
    scenarios = sorted({s for v in needed.values() for s, _ in v})
    seeds = sorted({seed for v in needed.values() for _, seed in v})
    args = ["-m", f"scenario={','.join(scenarios)}", f"seed={','.join(map(str, seeds))}"]
    if pool != "scenario":
        args.append(f"stylizer.pool={pool}")
    return command_line("train_decoder", args, dataset, root)
