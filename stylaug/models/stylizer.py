"""A trained stylizer: its checkpoint file, and how it is applied to images.

``artifacts/stylizers/<dataset>/<class>/<list id>.ckpt`` is a small ``torch.save`` dict - the
TransformerNet weights plus plain-data metadata (class, pool, list id and the list itself, style
images and their hashes, settings, which loss-network weights trained it) and the digest of its
weights, checked at load (a damaged file is an error naming it, never a silently different
network) - so ``stylize`` and ``augment`` load it without Lightning, and ``stylizer_hash`` names it
in manifests.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch

from stylaug.core.integrity import tensor_digest
from stylaug.core.io import atomic_path, file_sha256
from stylaug.models.color import preserve_color
from stylaug.models.transformer_net import TransformerNet

FORMAT = "stylaug.stylizer/2"  # /2: output in the reference network's scale (reference(255x)/255)
OLD_FORMATS = {"stylaug.stylizer/1": "its network output was 255x the reference's scale"}


class StylizerCheckpointError(ValueError):
    """A file that should be a stylaug stylizer checkpoint but is not one."""


def save_stylizer(path: str | os.PathLike, net: TransformerNet, metadata: dict) -> Path:
    """Write the network weights and ``metadata`` (plain Python data only) atomically."""
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    obj = {"format": FORMAT, "state_dict": state, "metadata": dict(metadata)}
    encoded = io.BytesIO()  # our own write: a full disk is an OSError naming the file
    torch.save({**obj, "weights_sha256": tensor_digest(state)}, encoded)
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.getvalue())
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
            f"{path} is damaged, or not a stylaug stylizer checkpoint: torch cannot read it "
            f"({type(err).__name__}: {err}). If train_stylizer wrote it, retrain it (train_stylizer "
            "replaces a damaged checkpoint); else point to a checkpoint written by train_stylizer."
        ) from None
    found = obj.get("format") if isinstance(obj, dict) else None
    if found in OLD_FORMATS:
        raise StylizerCheckpointError(
            f"{path} is an old stylizer checkpoint ({found}: {OLD_FORMATS[found]}); this version "
            f"reads {FORMAT}. Retrain it: `python -m stylaug.train_stylizer class=<class>` with "
            "the same settings (delete the old file or pass stylizer.force=true)."
        )
    if found != FORMAT:
        hint = (
            " It is a Lightning training checkpoint (like last.ckpt); use the <list id>.ckpt that "
            "train_stylizer writes next to the _train/ folder."
            if isinstance(obj, dict) and "pytorch-lightning_version" in obj
            else ""
        )
        raise StylizerCheckpointError(
            f"{path} is not a stylaug stylizer checkpoint (no format={FORMAT!r} marker).{hint}"
        )
    recorded = obj.get("weights_sha256")  # absent in checkpoints written before it was recorded
    if recorded is not None and recorded != tensor_digest(obj["state_dict"]):
        raise StylizerCheckpointError(
            f"{path} is damaged: its weights differ from the digest recorded when it was written. "
            "Retrain it: train_stylizer replaces a damaged checkpoint (the same command that made "
            "it, or delete the file)."
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


def stylizer_hash(path: str | os.PathLike) -> str:
    """Content hash of a checkpoint file (16 hex digits of sha256): names it in manifests."""
    return file_sha256(path)[:16]


def stylize_batch(
    net: TransformerNet, images: torch.Tensor, preserve: bool = False
) -> torch.Tensor:
    """Run a stylizer on [0, 1] images; optional luminance-only output; clamp to [0, 1]."""
    out = net(images).float()
    if preserve:
        out = preserve_color(out.clamp(0, 1), images.float())
    return out.clamp_(0, 1)
