"""The command line that makes what a run found missing, carrying that run's own overrides, so a
printed fix-it command runs as printed: ``augment experiment=demo dataset.image_size=32`` missing
its stylizers prints ``python -m stylaug.train_stylizer -m class=... scenario=... seed=...
experiment=demo dataset.image_size=32``, not a command that trains other networks.

Under ``@hydra.main`` (every command, the pipeline too) the overrides are Hydra's task overrides,
less those another command does not know (``class=``, the pipeline's and stylize's own keys) and
those the fix-it command sets itself. A stage called from Python has no command line: its fix-it
commands carry what its config says about the dataset and the root.
"""

from __future__ import annotations

import shlex
from functools import cache
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from stylaug.core.config import CONFIG_DIR

# shared keys that point one command's output at one file and would mislead another command
NOT_CARRIED = ("report.results_file", "report.out_dir")


@cache
def shared_keys() -> frozenset[str]:
    """The top-level keys every command's config has: ``base.yaml``'s groups and keys."""
    base = OmegaConf.load(Path(CONFIG_DIR) / "base.yaml")
    groups = set()
    for entry in base.get("defaults", []):
        groups |= set(entry) if OmegaConf.is_dict(entry) else {str(entry)}
    return frozenset(groups | {k for k in base if k != "defaults"})


def override_key(override: str) -> str:
    """``+a.b=1`` -> ``a.b``; ``~x`` -> ``x``; ``hydra/launcher=slurm`` -> ``hydra/launcher``."""
    return override.lstrip("+~").split("=", 1)[0]


def run_overrides() -> list[str]:
    """This process's command-line overrides that every command understands; [] when it was not
    started by ``@hydra.main``."""
    if not HydraConfig.initialized():
        return []
    out = []
    for o in HydraConfig.get().overrides.task:
        key = override_key(o)
        if key.replace("/", ".").split(".")[0] in shared_keys() and key not in NOT_CARRIED:
            out.append(o)
    return out


def command_line(command: str, args=(), dataset: str | list[str] | None = None, root=None) -> str:
    """``python -m stylaug.<command> ARGS OVERRIDES``: ARGS, then this run's overrides less the
    keys ARGS set, then the dataset (a name, or the overrides that select it) and ``paths.root=``
    unless the overrides already say; every word quoted for a POSIX shell where it needs to be."""
    args = list(args)
    own = {override_key(a) for a in args if a != "-m"}
    words = args + [o for o in run_overrides() if override_key(o) not in own]
    keys = {override_key(w) for w in words}
    if dataset is not None and "dataset" not in keys:
        words += [f"dataset={dataset}"] if isinstance(dataset, str) else list(dataset)
    if root is not None and str(root) != "." and "paths.root" not in keys:
        words.append(f"paths.root={root}")
    return " ".join(["python", "-m", f"stylaug.{command}", *(shlex.quote(w) for w in words)])
