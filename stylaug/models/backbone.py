"""The classifier's frozen backbone: an ImageNet network without its last layer.

ResNet-18 is the paper's; EfficientNet-Lite0 is the one pretrained network stylaug has offline.
The feature size comes from the network (512 and 1280), never from a constant.
"""

from __future__ import annotations

import torch
from torch import nn

from stylaug.models.weights import build, normalization

BACKBONE_ARCHS = ("resnet18", "efficientnet_lite0")


class Backbone(nn.Module):
    """Images (normalised for this network) -> pooled features (N, dim); frozen."""

    def __init__(self, arch: str, weights: str, config_key: str = "model.backbone.weights"):
        super().__init__()
        if arch not in BACKBONE_ARCHS:
            raise ValueError(
                f"model.backbone.arch={arch!r} is not a classifier backbone; use one of "
                f"{list(BACKBONE_ARCHS)}"
            )
        net, self.weights = build(arch, weights, config_key)
        self.arch = arch
        self.mean, self.std, self.normalization = normalization(arch)
        if arch == "resnet18":
            self.dim = net.fc.in_features
            net.fc = nn.Identity()
        else:  # EfficientNet: convolutional features, then global average pooling
            self.dim = net._fc.in_features
        self.net = net
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.arch == "resnet18":
            return self.net(images)
        return self.net.extract_features(images).mean(dim=(2, 3))
