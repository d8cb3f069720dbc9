"""The perceptual loss network and the losses of Gatys et al. (2016) and Johnson et al. (2016).

``VGGFeatures`` runs a frozen torchvision VGG16/19 (always in eval mode) and returns the
activations of named layers (``conv4_2``, ``relu2_2``, ...). ImageNet normalisation happens inside,
so callers pass images in [0, 1]. The Gram matrix is normalised by C*H*W as in the reference code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stylaug.models.weights import build

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


class VGGFeatures(nn.Module):
    def __init__(
        self,
        layers,
        arch: str = "vgg16",
        weights: str = "imagenet",
        config_key: str = "model.loss_net.weights",
    ):
        super().__init__()
        vgg, self.weights = build(arch, weights, config_key)
        names = vgg_layer_names(vgg.features)
        self.layers = list(dict.fromkeys(layers))
        unknown = [name for name in self.layers if name not in names]
        if unknown:
            raise ValueError(f"{arch} has no layers {unknown}; it has {names}")
        last = max(names.index(name) for name in self.layers)
        modules = [
            nn.ReLU(inplace=False) if isinstance(m, nn.ReLU) else m
            for m in vgg.features[: last + 1]
        ]  # in-place ReLUs would overwrite conv outputs
        self.features = nn.Sequential(*modules)
        self.names = names[: last + 1]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)  # frozen: always eval, whatever the parent module does

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (images - self.mean) / self.std
        out = {}
        for name, module in zip(self.names, self.features, strict=True):
            x = module(x)
            if name in self.layers:
                out[name] = x
        return out


def gram_matrix(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, C), normalised by C*H*W. A (N|1, 1, H, W) mask weights positions."""
    n, c, h, w = features.shape
    f = features if mask is None else features * mask
    f = f.reshape(n, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (c * h * w)


def content_loss(features: dict, target: dict, layers) -> torch.Tensor:
    return sum(F.mse_loss(features[name], target[name]) for name in layers)


def style_loss(
    features: dict, target_grams: dict, layers, layer_weights=None, gram=gram_matrix
) -> torch.Tensor:
    """Sum over layers of MSE between Gram matrices; targets broadcast over the batch.

    ``gram`` computes the output's Gram from a feature map (e.g. a region's Gram, for masked
    style transfer)."""
    total = 0.0
    for i, name in enumerate(layers):
        gram_ = gram(features[name])
        weight = 1.0 if layer_weights is None else layer_weights[i]
        total = total + weight * F.mse_loss(gram_, target_grams[name].expand_as(gram_))
    return total


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels: discourages high-frequency artefacts."""
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
    return dx + dy
