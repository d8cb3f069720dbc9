"""Pretrained weights through torchvision's weights API, with an honest offline story.

``weights=imagenet`` loads the torchvision ImageNet weights: from ``$TORCH_HOME/hub/checkpoints``
if the file is there, else by download. With no network and no cached file the error names the
exact file and folder. ``weights=random`` is explicit random initialisation; callers record the
returned description in every checkpoint and result row, so no table hides a random backbone.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision import models

WEIGHT_CHOICES = ("imagenet", "random")

# arch -> (builder, ImageNet weights enum member)
ARCHS = {
    "vgg16": (models.vgg16, models.VGG16_Weights.IMAGENET1K_V1),
    "vgg19": (models.vgg19, models.VGG19_Weights.IMAGENET1K_V1),
    "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1),
}


class PretrainedWeightsMissing(RuntimeError):
    pass


def checkpoint_file(weights) -> Path:
    """Where torchvision caches (and looks for) a weights file: $TORCH_HOME/hub/checkpoints/<name>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def weights_missing(
    what: str, file: Path, err: Exception, config_key: str
) -> PretrainedWeightsMissing:
    """The one offline message: which file, where it goes, and the explicit random-init way out."""
    return PretrainedWeightsMissing(
        f"{what} are not available: no cached file {file} and the download failed "
        f"({type(err).__name__}: {err}). Put {file.name} into {file.parent} "
        "(TORCH_HOME/hub/checkpoints; set TORCH_HOME to use another folder), "
        f"or set {config_key}=random to use random-init weights (recorded as such)."
    )


def build(arch: str, weights: str, config_key: str = "model.*.weights") -> tuple[nn.Module, str]:
    """Build ``arch`` with ImageNet or random weights; return (model, description of the weights)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHS)}")
    if weights not in WEIGHT_CHOICES:
        raise ValueError(f"{config_key}={weights!r} is not valid; use one of {WEIGHT_CHOICES}")
    builder, imagenet = ARCHS[arch]
    model = builder(weights=None)
    if weights == "random":
        return model, f"{arch}:random-init"
    file = checkpoint_file(imagenet)
    try:
        state = imagenet.get_state_dict(progress=False)
    except Exception as err:  # URLError, socket errors, a broken partial download
        raise weights_missing(
            f"{arch} ImageNet weights ({imagenet})", file, err, config_key
        ) from err
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise PretrainedWeightsMissing(
            f"{file} does not hold {arch} weights ({err}). Delete it so it is downloaded again, "
            f"or replace it with the torchvision file {file.name}."
        ) from err
    return model, f"{arch}:{imagenet} ({file.name})"
