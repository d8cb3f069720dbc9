"""Fourier domain adaptation (Yang & Soatto 2020): the style image's low-frequency amplitude
spectrum with the content image's phase.

The amplitude of the lowest frequencies carries global colour, brightness and contrast - what
differs between domains - while the phase carries the scene's edges and layout. FDA replaces the
content's amplitudes inside a square window of half-width ``b = floor(beta * min(H, W))`` around the
zero frequency (beta = 0.01 .. 0.09 in the paper; b = 0 swaps only the mean colour) and keeps every
phase, so the scene survives. ``alpha`` interpolates the windowed amplitudes (1: the style's).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stylaug.transforms.family import StyleFamily, check_style_images


def low_frequency_window(height: int, width: int, beta: float, device=None) -> torch.Tensor:
    """(H, W // 2 + 1) bool mask over ``rfft2``'s grid: frequencies with |ky|, kx <= beta*min(H, W)."""
    half_width = int(beta * min(height, width))
    ky = torch.fft.fftfreq(height, 1 / height, device=device).abs()
    kx = torch.fft.rfftfreq(width, 1 / width, device=device)
    return (ky[:, None] <= half_width) & (kx[None, :] <= half_width)


def fourier_domain_adaptation(
    content: torch.Tensor, style: torch.Tensor, beta: float = 0.05, alpha=1.0
) -> torch.Tensor:
    """(N, C, H, W) content with the low-frequency amplitudes of (N, C, H, W) style images
    (resized to the content's size if they differ); ``alpha`` a number or one per image."""
    h, w = content.shape[-2:]
    style = style.float()
    if style.shape[-2:] != (h, w):
        style = F.interpolate(style, size=(h, w), mode="bilinear", antialias=True)
    spectrum = torch.fft.rfft2(content.float())
    amplitude, phase = spectrum.abs(), spectrum.angle()
    style_amplitude = torch.fft.rfft2(style).abs()
    alpha = torch.as_tensor(alpha, dtype=amplitude.dtype, device=amplitude.device)
    weight = low_frequency_window(h, w, beta, content.device) * alpha.reshape(-1, 1, 1, 1)
    mixed = amplitude + weight * (style_amplitude - amplitude)
    return torch.fft.irfft2(torch.polar(mixed, phase), s=(h, w))


class FourierStyle(StyleFamily):
    """``fda``: each drawn image takes the low-frequency amplitudes of one image of the pool."""

    def __init__(self, styles: torch.Tensor, beta: float = 0.05):
        super().__init__()
        if not 0 <= beta < 0.5:
            raise ValueError(f"fda: beta={beta} must be in [0, 0.5) (the paper uses 0.01-0.09)")
        self.register_buffer("styles", check_style_images(styles, "fda"))
        self.beta, self.pool_size = float(beta), len(styles)

    def forward(self, content, style, alpha, labels=None) -> torch.Tensor:
        return fourier_domain_adaptation(content, self.styles[style], self.beta, alpha)
