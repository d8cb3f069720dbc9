"""What every style family of ``StyleAugment`` is: a frozen module that stylizes a batch.

``StyleAugment`` owns the randomness (which samples, which style, which strength); a family only
computes. ``forward(content, style, alpha, labels)`` gets the drawn samples' images (float32 in
[0, 1]), their style indices into the family's pool (``pool_size`` styles; a family without a pool
gets zeros), their strengths in [0, 1] and their labels, and returns images of the same shape
(unclamped: ``StyleAugment`` clamps).
"""

from __future__ import annotations

import torch
from torch import nn


class StyleFamily(nn.Module):
    """Base of the families: frozen, always in eval mode, every sample eligible by default."""

    pool_size: int = 0  # number of styles to draw from (0: the family has no pool)
    needs_labels: bool = False

    def applicable(self, labels: torch.Tensor | None, n: int) -> torch.Tensor:
        """Which of ``n`` samples this family can stylize (johnson: those with a network)."""
        return torch.ones(n, dtype=torch.bool)

    def train(self, mode: bool = True):
        return super().train(False)  # frozen networks: whatever the training loop does

    def forward(self, content, style, alpha, labels=None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define forward")


def check_style_images(styles: torch.Tensor, family: str) -> torch.Tensor:
    """A pool of style images: (K, 3, H, W), floating point, values in [0, 1]."""
    if not isinstance(styles, torch.Tensor) or styles.ndim != 4 or styles.shape[1] != 3:
        shape = tuple(styles.shape) if isinstance(styles, torch.Tensor) else type(styles).__name__
        raise ValueError(
            f"{family}: styles must be a tensor of style images (K, 3, H, W) in [0, 1], got "
            f"{shape}; stack your style images with torch.stack"
        )
    if not styles.is_floating_point() or len(styles) == 0:
        raise ValueError(f"{family}: styles must be a non-empty float tensor in [0, 1]")
    if styles.min() < 0 or styles.max() > 1:
        raise ValueError(
            f"{family}: style images must be in [0, 1] (got {float(styles.min()):.3g} .. "
            f"{float(styles.max()):.3g}); divide 8-bit images by 255"
        )
    return styles.detach().float()
