"""One class's fast style-transfer network: its checkpoint format, its data and its training module.

A stylizer checkpoint (``artifacts/stylizers/<dataset>/<class>.ckpt``) is a small ``torch.save``
dict - the TransformerNet weights plus plain-data metadata (class, dataset, style images and their
hashes, hyperparameters, which loss-network weights trained it) - so ``stylize``/``augment`` load it
without Lightning, and ``stylizer_hash`` names it in manifests. Lightning's own training
checkpoints (``last.ckpt``, for resuming) live in a separate work folder.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from stylaug.io import atomic_path
from stylaug.models.transformer_net import TransformerNet

FORMAT = "stylaug.stylizer/1"


class StylizerCheckpointError(ValueError):
    """A file that should be a stylaug stylizer checkpoint but is not one."""


def save_stylizer(path: str | os.PathLike, net: TransformerNet, metadata: dict) -> Path:
    """Write the network weights and ``metadata`` (plain Python data only) atomically."""
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "state_dict": state, "metadata": dict(metadata)}, tmp)
    return Path(path)


def load_stylizer(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[TransformerNet, dict]:
    """Load a checkpoint written by ``save_stylizer``: (network in eval mode, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no stylizer checkpoint at {path}. Train one with "
            "`python -m stylaug.train_stylizer class=<class>` (same dataset= and paths.root=)."
        )
    try:  # weights_only: a checkpoint is data, never code
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise StylizerCheckpointError(
            f"{path} is not a stylaug stylizer checkpoint: torch cannot read it "
            f"({type(err).__name__}: {err}). Point to a <class>.ckpt written by train_stylizer."
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        hint = (
            " It is a Lightning training checkpoint (like last.ckpt); use the <class>.ckpt that "
            "train_stylizer writes next to the _train/ folder."
            if isinstance(obj, dict) and "pytorch-lightning_version" in obj
            else ""
        )
        raise StylizerCheckpointError(
            f"{path} is not a stylaug stylizer checkpoint (no format={FORMAT!r} marker).{hint}"
        )
    metadata = obj["metadata"]
    net = TransformerNet(int(metadata.get("residual_blocks", 5)))
    try:
        net.load_state_dict(obj["state_dict"])
    except RuntimeError as err:
        raise StylizerCheckpointError(
            f"{path}: weights do not fit a TransformerNet ({err})"
        ) from None
    return net.eval(), metadata


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stylizer_hash(path: str | os.PathLike) -> str:
    """Content hash of a checkpoint file (16 hex digits of sha256): names it in manifests."""
    return file_sha256(path)[:16]
