"""The perceptual loss network and the losses of Gatys et al. (2016) and Johnson et al. (2016).

``LossNetwork`` runs a frozen pretrained CNN (always in eval mode) and returns the activations of
named layers: torchvision VGG16/19 (``conv4_2``, ``relu2_2``, ...; the paper's networks) or
EfficientNet-Lite0 (``stem``, ``block0`` ... ``block15``, ``head``; ImageNet weights offline). The
network's own input normalisation happens inside, so callers pass images in [0, 1].

Gram matrices are normalised by C*H*W as in the reference code, and Grams and style losses are
always computed in float32 with autocast off: under bf16/fp16 a Gram's sums over H*W products lose
most of their precision, and the style weight (1e10) multiplies that error.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stylaug.models.weights import build, normalization

# Default (content layers, style layers) per network and use: "johnson" trains a stylizer (the
# reference code's layers for VGG16), "gatys" optimises an image (Gatys et al.'s layers).
# EfficientNet-Lite0: content at the 1/4-resolution stage (like VGG's relu2_2 it keeps edges),
# style at the stem and the ends of the 1/4, 1/8 and 1/16 stages (like relu1_2 ... relu4_3).
VGG_LAYERS = {
    "johnson": (["relu2_2"], ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]),
    "gatys": (["conv4_2"], ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]),
}
DEFAULT_LAYERS = {
    "vgg16": VGG_LAYERS,
    "vgg19": VGG_LAYERS,
    "efficientnet_lite0": {
        "johnson": (["block2"], ["stem", "block2", "block4", "block7"]),
        "gatys": (["block4"], ["stem", "block2", "block4", "block7", "block10"]),
    },
}


def default_layers(arch: str, use: str, content=None, style=None) -> tuple[list[str], list[str]]:
    """Configured layers, or (null) the network's defaults for ``use`` ("johnson" | "gatys")."""
    if arch not in DEFAULT_LAYERS:
        raise ValueError(
            f"no loss-network layers for {arch!r}; choose one of {list(DEFAULT_LAYERS)}"
        )
    content_default, style_default = DEFAULT_LAYERS[arch][use]
    return (
        list(content) if content else list(content_default),
        list(style) if style else list(style_default),
    )


def vgg_layer_names(features: nn.Sequential) -> list[str]:
    """Name torchvision VGG ``features`` modules conv{block}_{i}, relu{block}_{i}, pool{block}."""
    names, block, conv = [], 1, 0
    for module in features:
        if isinstance(module, nn.Conv2d):
            conv += 1
            names.append(f"conv{block}_{conv}")
        elif isinstance(module, nn.ReLU):
            names.append(f"relu{block}_{conv}")
        else:
            names.append(f"pool{block}")
            block, conv = block + 1, 0
    return names


def vgg_stages(vgg) -> list[tuple[str, nn.Module]]:
    """VGG as named single layers; in-place ReLUs would overwrite the conv outputs we return."""
    modules = [nn.ReLU(inplace=False) if isinstance(m, nn.ReLU) else m for m in vgg.features]
    return list(zip(vgg_layer_names(vgg.features), modules, strict=True))


def efficientnet_stages(net) -> list[tuple[str, nn.Module]]:
    """EfficientNet-Lite as stem, its 16 MBConv blocks and the 1x1 head (each with its activation)."""
    stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
    head = nn.Sequential(net._conv_head, net._bn1, net._swish)
    blocks = [(f"block{i}", block) for i, block in enumerate(net._blocks)]
    return [("stem", stem), *blocks, ("head", head)]


class LossNetwork(nn.Module):
    """A frozen CNN cut after the last requested layer; returns {layer name: activation}."""

    def __init__(
        self,
        layers,
        arch: str = "vgg16",
        weights: str = "imagenet",
        config_key: str = "model.loss_net.weights",
    ):
        super().__init__()
        net, self.weights = build(arch, weights, config_key)
        if arch.startswith("vgg"):
            stages = vgg_stages(net)
        elif arch.startswith("efficientnet"):
            stages = efficientnet_stages(net)
        else:
            raise ValueError(
                f"{arch} is not a loss network; use vgg16, vgg19 or efficientnet_lite0"
            )
        names = [name for name, _ in stages]
        self.arch = arch
        self.layers = list(dict.fromkeys(layers))
        unknown = [name for name in self.layers if name not in names]
        if unknown:
            raise ValueError(f"{arch} has no layers {unknown}; it has {names}")
        last = max(names.index(name) for name in self.layers)
        self.names = names[: last + 1]
        self.stages = nn.ModuleList(module for _, module in stages[: last + 1])
        mean, std, _ = normalization(arch)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)  # frozen: always eval, whatever the parent module does

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (images - self.mean) / self.std
        out = {}
        for name, module in zip(self.names, self.stages, strict=True):
            x = module(x)
            if name in self.layers:
                out[name] = x
        return out


def gram_matrix(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C) in float32, normalised by C*H*W. A (N|1, 1, H, W) mask weights
    positions."""
    n, c, h, w = features.shape
    with torch.autocast(features.device.type, enabled=False):
        f = features.float()
        if mask is not None:
            f = f * mask.float()
        f = f.reshape(n, c, h * w)
        return f.bmm(f.transpose(1, 2)) / (c * h * w)


def content_loss(features: dict, target: dict, layers) -> torch.Tensor:
    return sum(F.mse_loss(features[name], target[name]) for name in layers)


def style_loss(
    features: dict, target_grams: dict, layers, layer_weights=None, gram=gram_matrix
) -> torch.Tensor:
    """Sum over layers of MSE between Gram matrices (float32); targets broadcast over the batch.

    ``gram`` computes the output's Gram from a feature map (e.g. a region's Gram, for masked
    style transfer)."""
    total = 0.0
    for i, name in enumerate(layers):
        gram_ = gram(features[name])
        weight = 1.0 if layer_weights is None else layer_weights[i]
        with torch.autocast(gram_.device.type, enabled=False):
            target = target_grams[name].float().expand_as(gram_)
            total = total + weight * F.mse_loss(gram_.float(), target)
    return total


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels: discourages high-frequency artefacts."""
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
    return dx + dy
