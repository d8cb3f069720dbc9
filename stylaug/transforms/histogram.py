"""Histogram matching: each channel's values remapped so that its histogram becomes the style
image's, batched in torch: one sort per batch, no loop over images.

A pixel at quantile q of its channel takes the value at quantile q of the style's channel. Equal
pixels share one quantile, the middle of their group's ranks (mid-rank), so a flat region stays
flat instead of being spread over the style's range by an arbitrary order.

A style is stored as its channel quantile function sampled at ``QUANTILES`` points, so a pool's
memory does not grow with the style images' size (8-bit images have 256 levels; 1024 points with
linear interpolation reproduce them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stylaug.transforms.family import StyleFamily, check_style_images

QUANTILES = 1024


def quantile_function(sorted_values: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Values at quantiles ``q`` (..., P) in [0, 1] of the samples ``sorted_values`` (..., M),
    each sample standing for its mid-rank quantile (i + 0.5) / M; linear in between."""
    m = sorted_values.shape[-1]
    position = (q * m - 0.5).clamp(0, m - 1)
    lower = position.floor().long()
    upper = (lower + 1).clamp(max=m - 1)
    below, above = sorted_values.gather(-1, lower), sorted_values.gather(-1, upper)
    return below + (position - lower) * (above - below)


def tie_midranks(ordered: torch.Tensor) -> torch.Tensor:
    """Quantile (in (0, 1)) of each position of sorted values (..., P): equal values get the
    middle of their group's ranks. A group's first and last positions come from running max/min."""
    n = ordered.shape[-1]
    position = torch.arange(n, device=ordered.device).expand_as(ordered)
    change = ordered[..., 1:] != ordered[..., :-1]
    first = F.pad(change, (1, 0), value=True)  # a group of equal values starts here
    last = F.pad(change, (0, 1), value=True)  # ... and ends here
    start = torch.where(first, position, 0).cummax(dim=-1).values
    end = torch.where(last, position, n - 1).flip(-1).cummin(dim=-1).values.flip(-1)
    return (start + end + 1) / (2 * n)


def channel_quantiles(images: torch.Tensor, points: int = QUANTILES) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, points): each channel's quantile function at mid-rank points."""
    values = images.float().flatten(2).sort(dim=-1).values
    q = (torch.arange(points, device=images.device) + 0.5) / points
    return quantile_function(values, q.expand(*values.shape[:-1], points).contiguous())


def match_histograms(content: torch.Tensor, style_quantiles: torch.Tensor, alpha=1.0):
    """(N, C, H, W) content remapped per channel to the quantile functions (N, C, M) of the
    styles (``channel_quantiles``), blended with the content by ``alpha`` (a number or per image)."""
    x = content.float().flatten(2)
    ordered, order = x.sort(dim=-1)
    matched = quantile_function(style_quantiles.float(), tie_midranks(ordered))
    matched = torch.empty_like(x).scatter_(-1, order, matched).view_as(content)
    alpha = torch.as_tensor(alpha, dtype=matched.dtype, device=matched.device).reshape(-1, 1, 1, 1)
    return content.float() + alpha * (matched - content.float())


class HistogramStyle(StyleFamily):
    """``histogram_match``: each drawn image takes the channel histograms of one image of the pool."""

    def __init__(self, styles: torch.Tensor):
        super().__init__()
        styles = check_style_images(styles, "histogram_match")
        self.register_buffer("quantiles", channel_quantiles(styles))
        self.pool_size = len(styles)

    def forward(self, content, style, alpha, labels=None) -> torch.Tensor:
        return match_histograms(content, self.quantiles[style], alpha)
