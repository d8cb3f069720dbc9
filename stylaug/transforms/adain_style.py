"""``adain`` and ``randomized``: AdaIN (Huang & Belongie 2017) with a decoder ``train_decoder``
made, each drawn image taking the feature statistics of one style of a pool.

The pool is kept as the styles' encoder statistics (channel means and standard deviations at the
encoder layer), computed once: a batch then costs one encoder and one decoder pass, whatever the
pool's size. ``randomized`` (Jackson et al. 2018) is the same network with a random style and a
random strength per image; ``StyleAugment`` draws both.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from stylaug.models.adain import AdaINStylizer, load_decoder, mean_std
from stylaug.models.loss_net import LossNetwork
from stylaug.transforms.family import StyleFamily, check_style_images

DOWNSAMPLING = 8  # stylaug's AdaIN encoders end at 1/8 resolution (relu4_1, block4)


def load_adain(path: str | os.PathLike) -> AdaINStylizer:
    """The decoder ``python -m stylaug.train_decoder`` wrote, with the encoder it was trained with
    (the same loss network, weights and layer, as its metadata records)."""
    decoder, meta = load_decoder(path)
    weights = "random" if "random-init" in meta["loss_net_weights"] else "imagenet"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # a random-init encoder is the one train_decoder built
        encoder = LossNetwork([meta["layer"]], meta["loss_net"], weights)
    if encoder.weights != meta["loss_net_weights"]:
        raise ValueError(
            f"{path} was trained with encoder {meta['loss_net_weights']}, but this machine builds "
            f"{encoder.weights}; install the same weights the decoder was trained with"
        )
    return AdaINStylizer(encoder, meta["layer"], decoder.requires_grad_(False))


@torch.no_grad()
def style_statistics(stylizer: AdaINStylizer, styles: torch.Tensor, batch_size: int = 32):
    """(mean, std) of each style image's encoder features, each (K, C, 1, 1)."""
    stats = [mean_std(stylizer.encode(chunk)) for chunk in styles.split(batch_size)]
    return torch.cat([m for m, _ in stats]), torch.cat([s for _, s in stats])


def reflect_to_multiple(images: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = images.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    return F.pad(images, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else images


class AdaINStyle(StyleFamily):
    """encoder -> AdaIN with a pool style's statistics (strength alpha) -> decoder.

    ``styles``: style images (K, 3, H, W) in [0, 1], or their statistics ``(mean, std)`` as
    ``style_statistics`` returns them (e.g. precomputed for a large pool)."""

    def __init__(self, stylizer: AdaINStylizer | str | os.PathLike, styles):
        super().__init__()
        if isinstance(stylizer, (str, os.PathLike)):
            stylizer = load_adain(stylizer)
        self.stylizer = stylizer.eval().requires_grad_(False)
        if isinstance(styles, (tuple, list)):
            mean, std = (torch.as_tensor(s).float() for s in styles)
        else:
            mean, std = style_statistics(self.stylizer, check_style_images(styles, "adain"))
        if mean.shape != std.shape or mean.ndim not in (2, 4):
            raise ValueError(
                f"adain: style statistics must be (mean, std) of shape (K, C) or (K, C, 1, 1), "
                f"got {tuple(mean.shape)} and {tuple(std.shape)}"
            )
        self.register_buffer("style_mean", mean.reshape(*mean.shape[:2], 1, 1))
        self.register_buffer("style_std", std.reshape(*std.shape[:2], 1, 1))
        self.pool_size = len(mean)

    def forward(self, content, style, alpha, labels=None) -> torch.Tensor:
        h, w = content.shape[-2:]
        features = self.stylizer.encode(reflect_to_multiple(content, DOWNSAMPLING)).float()
        if features.shape[1] != self.style_mean.shape[1]:
            raise ValueError(
                f"adain: the style statistics have {self.style_mean.shape[1]} channels, the "
                f"encoder gives {features.shape[1]}; compute them with this stylizer"
            )
        mean, std = mean_std(features)
        stylized = (features - mean) / std * self.style_std[style] + self.style_mean[style]
        alpha = alpha.to(features).reshape(-1, 1, 1, 1)
        t = features + alpha * (stylized - features)
        return self.stylizer.decoder(t.to(content.dtype)).float()[..., :h, :w]
