"""The image transformation network of Johnson, Alahi and Fei-Fei (2016), as in the paper's
reference code (pytorch/examples fast_neural_style): reflection-padded convolutions, instance
normalisation, five residual blocks, nearest-neighbour upsampling instead of transposed convs.

Images are float tensors in [0, 1] (N, 3, H, W); the output is unbounded and clamped only when
saved. Any H, W works: the input is reflection-padded to a multiple of 4 and the output cropped.

The reference network works in 0-255 pixel units. This one is exactly that network wrapped:
``forward(x) = reference(255 x) / 255``. Without the division, Adam at the reference's learning
rate (1e-3, a step of ~lr on every weight) would move a [0, 1] output 255x further per step
relative to the image than the reference moves its own, so "the paper's settings" would train a
different, much more erratic network. (Instance norm makes the input scale almost irrelevant; the
input is scaled too so that the equivalence is exact, epsilon included.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PIXEL_SCALE = 255.0  # the reference network's pixel units


class OutputConv(nn.Conv2d):
    """The last convolution (32 -> 3 channels), computed channels-last on a CPU: oneDNN's
    channels-first input gradient for 3 output channels is ~5x slower (64 px, batch 4: 219 vs
    37 ms, a quarter of a training step; scripts/bench_stylizer.py). Same weights, same function.
    (permute + contiguous makes the channels-last copy; unlike ``contiguous(memory_format=...)``
    it also works under ``torch.func.vmap``.)"""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cpu:
            x = x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
        return super().forward(x).contiguous()


class ConvLayer(nn.Sequential):
    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int = 1, upsample: int = 1, conv=nn.Conv2d
    ):
        layers = [nn.Upsample(scale_factor=upsample, mode="nearest")] if upsample > 1 else []
        layers += [nn.ReflectionPad2d(kernel // 2), conv(c_in, c_out, kernel, stride)]
        super().__init__(*layers)


class ConvNormReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, upsample: int = 1):
        super().__init__(
            ConvLayer(c_in, c_out, kernel, stride, upsample),
            nn.InstanceNorm2d(c_out, affine=True),
            nn.ReLU(),
        )


class ResidualBlock(nn.Module):
    """Two 3x3 conv + instance norm layers with an identity shortcut (He et al. 2016)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            ConvNormReLU(channels, channels, 3),
            ConvLayer(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x):
        return x + self.body(x)


class TransformerNet(nn.Module):
    def __init__(self, residual_blocks: int = 5):
        super().__init__()
        self.encoder = nn.Sequential(
            ConvNormReLU(3, 32, 9),
            ConvNormReLU(32, 64, 3, stride=2),
            ConvNormReLU(64, 128, 3, stride=2),
        )
        self.residuals = nn.Sequential(*[ResidualBlock(128) for _ in range(residual_blocks)])
        self.decoder = nn.Sequential(
            ConvNormReLU(128, 64, 3, upsample=2),
            ConvNormReLU(64, 32, 3, upsample=2),
            ConvLayer(32, 3, 9, conv=OutputConv),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % 4, (-w) % 4
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
        y = self.decoder(self.residuals(self.encoder(x * PIXEL_SCALE)))
        return y[..., :h, :w] / PIXEL_SCALE
