"""Image-optimisation style transfer (Gatys, Ecker and Bethge 2016).

The pixels of one image are optimised, through a frozen VGG, to minimise a weighted sum of loss
terms: content (feature MSE), style (Gram-matrix MSE, optionally limited to a mask region or
computed per semantic region) and total variation, plus any extra terms a caller adds (the
photorealistic options in ``stylaug.models.photoreal_loss`` / ``stylaug.models.segmentation``). Each term is a
function of (image, VGG features) so every option is one more entry in a dict.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from stylaug.models.loss_net import content_loss, gram_matrix, style_loss, total_variation

Term = Callable[[torch.Tensor, dict], torch.Tensor]  # (image, VGG features) -> scalar


def resize_mask(mask: torch.Tensor, size) -> torch.Tensor:
    """(1, 1, H, W) mask in [0, 1] -> the spatial size of a feature map (area averaging)."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.interpolate(mask, size=tuple(size), mode="area")


def region_gram(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Gram matrix of the features inside a soft region, normalised by the region's size.

    ``gram_matrix(f, mask)`` weights positions by the mask (so by mask**2 in the product) and
    divides by C*H*W; rescaling by H*W / sum(mask**2) makes it the mean over the region, so an
    all-ones mask gives exactly the plain Gram and a region's Gram is comparable with a whole
    style image's Gram. An empty region gives zeros.
    """
    if mask is None:
        return gram_matrix(features)
    h, w = features.shape[-2:]
    mask = resize_mask(mask, (h, w))
    area = mask.pow(2).sum(dim=(1, 2, 3)).clamp_min(1e-8).view(-1, 1, 1)
    return gram_matrix(features, mask) * (h * w) / area


def style_grams(features: dict, layers, mask: torch.Tensor | None = None) -> dict:
    return {name: region_gram(features[name], mask).detach() for name in layers}


def blend_grams(grams: list[dict], weights) -> dict:
    """Weighted mean of several style images' Grams: the minimiser of the blended style loss
    sum_i w_i * ||G - G_i||^2 (the two differ by a constant), so one target serves them all."""
    total = float(sum(weights))
    return {
        name: sum(w / total * g[name] for w, g in zip(weights, grams, strict=True))
        for name in grams[0]
    }


def masked_style_loss(features, target_grams, layers, layer_weights=None, mask=None):
    """Style loss whose output Grams only see the region ``mask`` (None: the whole image).

    Features outside the mask get zero weight, so they contribute nothing to the loss (and get no
    gradient from it): the style is transferred inside the region only.
    """
    return style_loss(
        features,
        target_grams,
        layers,
        layer_weights,
        gram=functools.partial(region_gram, mask=mask),
    )


@dataclass
class Region:
    """One semantic region: where it is in the output/content image and its style Grams."""

    content_mask: torch.Tensor  # (1, 1, H, W) in the content image's resolution
    grams: dict  # layer -> Gram of the style image inside the matching style region
    weight: float  # the region's share of the content image


def semantic_style_loss(features, regions: list[Region], layers, layer_weights=None):
    """Segmentation-augmented style loss (Luan et al. 2017, eqs. 7-9): one Gram per semantic region
    of the output, matched with the same region of the style image; regions are weighted by area,
    so a single all-ones region equals the plain style loss."""
    return sum(
        r.weight * masked_style_loss(features, r.grams, layers, layer_weights, r.content_mask)
        for r in regions
    )


def gatys_terms(
    content_features: dict,
    target_grams: dict | None,
    content_layers,
    style_layers,
    style_layer_weights=None,
    mask: torch.Tensor | None = None,
    regions: list[Region] | None = None,
) -> dict[str, Term]:
    """The three classic terms. ``regions`` (semantic style) replaces the plain/masked style loss."""
    targets = {name: content_features[name].detach() for name in content_layers}

    def content(image, features):
        return content_loss(features, targets, content_layers)

    def style(image, features):
        if regions is not None:
            return semantic_style_loss(features, regions, style_layers, style_layer_weights)
        return masked_style_loss(features, target_grams, style_layers, style_layer_weights, mask)

    def tv(image, features):
        return total_variation(image)

    return {"content": content, "style": style, "tv": tv}


def evaluate(image, vgg, terms: dict[str, Term], weights: dict[str, float]):
    """(total, {term: weighted value}) for one image; terms with weight 0 are skipped."""
    features = vgg(image)
    parts = {
        name: weights[name] * fn(image, features) for name, fn in terms.items() if weights[name]
    }
    total = sum(parts.values()) if parts else image.sum() * 0.0
    return total, parts


def optimise(
    init: torch.Tensor,
    vgg,
    terms: dict[str, Term],
    weights: dict[str, float],
    optimizer: str = "lbfgs",
    iterations: int = 300,
    lr: float | None = None,
    progress: bool = True,
    desc: str = "gatys",
) -> tuple[torch.Tensor, list[dict]]:
    """Optimise the pixels of ``init`` (1, 3, H, W) in [0, 1]; return (image, loss history).

    One iteration is one optimiser step: one loss + gradient evaluation for Adam; for L-BFGS (stepped
    with max_iter=1, keeping its curvature history across steps) one direction plus a strong-Wolfe
    line search, usually 1-3 evaluations. ``history[i]`` is the loss before step i, the last row
    the loss of the returned image. Pixels are clamped to [0, 1] after every step.
    """
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"gatys.optimizer={optimizer!r} is not valid; use lbfgs or adam")
    image = init.detach().clone().clamp_(0, 1).requires_grad_(True)
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS(
            [image],
            lr=1.0 if lr is None else lr,
            max_iter=1,
            max_eval=20,  # the default (max_iter * 5 // 4 = 1) would leave the line search no budget
            history_size=50,
            line_search_fn="strong_wolfe",
            tolerance_grad=0.0,  # never stop silently: tiny gradients are normal for small images
            tolerance_change=0.0,
        )
    else:
        opt = torch.optim.Adam([image], lr=0.02 if lr is None else lr)
    history: list[dict] = []
    evaluations = [0]

    def closure():
        opt.zero_grad()
        total, parts = evaluate(image, vgg, terms, weights)
        total.backward()
        if evaluations[0] == 0:  # the first evaluation of a step is at the current image
            history.append(_row(len(history), total, parts))
        evaluations[0] += 1
        return total

    bar = tqdm(range(iterations), desc=desc, unit="it", disable=not progress, leave=False)
    for _ in bar:
        evaluations[0] = 0
        opt.step(closure)
        with torch.no_grad():
            image.clamp_(0, 1)
        bar.set_postfix({k: f"{v:.3g}" for k, v in history[-1].items() if k != "iter"})
    with torch.no_grad():  # the loss of the image actually returned
        total, parts = evaluate(image, vgg, terms, weights)
    history.append(_row(iterations, total, parts))
    return image.detach(), history


def _row(iteration: int, total, parts: dict) -> dict:
    row = {"iter": iteration, "total": total.item()}
    row.update({name: value.item() for name, value in parts.items()})
    return row
