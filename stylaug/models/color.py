"""Colour-preserving (luminance-only) style transfer (Gatys et al. 2016, "Preserving color in
neural artistic style transfer"): keep the stylized image's luminance and the content's chroma."""

from __future__ import annotations

import numpy as np
import torch

# RGB -> YIQ (NTSC). Y is luminance; I and Q carry the chroma. Kept as NumPy and made into tensors
# per call: a module-level tensor created under torch.inference_mode() (e.g. by a first import
# inside trainer.predict) could never take part in autograd afterwards.
RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)


def _apply(matrix: np.ndarray, images: torch.Tensor) -> torch.Tensor:
    m = torch.as_tensor(matrix, dtype=images.dtype, device=images.device)
    return torch.einsum("ij,njhw->nihw", m, images)


def rgb_to_yiq(images: torch.Tensor) -> torch.Tensor:
    return _apply(RGB_TO_YIQ, images)


def yiq_to_rgb(images: torch.Tensor) -> torch.Tensor:
    return _apply(YIQ_TO_RGB, images)


def preserve_color(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance of ``stylized`` with the I/Q chroma of ``content`` (both (N, 3, H, W) in [0, 1])."""
    y = rgb_to_yiq(stylized)[:, :1]
    iq = rgb_to_yiq(content)[:, 1:]
    return yiq_to_rgb(torch.cat([y, iq], dim=1))
