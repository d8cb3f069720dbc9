"""How well a stylized image keeps its content and takes its style.

* ``edge_correlation`` (the content score): Pearson correlation of the Sobel edge magnitudes of
  source and stylized image, on luminance at 64 px. 1 = the same edges, 0 = unrelated images (an
  unrelated pair scores ~0.00; pytorch/examples' published VGG16 stylizations score 0.55-0.73).
* ``gram_distance``: per image, the mean squared difference between its Gram matrices and the style
  target's, over the loss network's style layers. Stylized images should sit much closer to the
  style than their sources do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stylaug.models.loss_net import gram_matrix

EDGE_SIZE = 64
LUMA = (0.299, 0.587, 0.114)
SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


def edge_magnitude(images: torch.Tensor, size: int = EDGE_SIZE) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> (N, size-2, size-2) Sobel gradient magnitude of the luminance."""
    x = images.float()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    luma = torch.tensor(LUMA, device=x.device).view(1, 3, 1, 1)
    y = (x * luma).sum(dim=1, keepdim=True)
    kx = torch.tensor(SOBEL_X, device=x.device).view(1, 1, 3, 3)
    gx = F.conv2d(y, kx)
    gy = F.conv2d(y, kx.transpose(-1, -2))
    return (gx.square() + gy.square()).sqrt()[:, 0]


def edge_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per image pair, the Pearson correlation of edge magnitudes (0 where one image is flat)."""
    ea = edge_magnitude(a).flatten(1)
    eb = edge_magnitude(b).flatten(1)
    ea = ea - ea.mean(dim=1, keepdim=True)
    eb = eb - eb.mean(dim=1, keepdim=True)
    denom = ea.norm(dim=1) * eb.norm(dim=1)
    return torch.where(denom > 0, (ea * eb).sum(dim=1) / denom.clamp_min(1e-12), 0.0)


def gram_distance(features: dict, target_grams: dict, layers) -> torch.Tensor:
    """Per image (N,): mean over ``layers`` of the MSE between its Gram and the target Gram."""
    total = 0.0
    for name in layers:
        gram = gram_matrix(features[name])
        target = target_grams[name].to(gram).expand_as(gram)
        total = total + (gram - target).square().mean(dim=(1, 2))
    return total / len(layers)
