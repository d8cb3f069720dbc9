"""``StyleAugment``: style augmentation of a collated batch, on the batch's device.

Each sample is stylized with probability ``p``; a stylized sample gets a strength alpha (a number,
or drawn uniformly from a range per sample) and, for the families with a pool, a style drawn
uniformly from it. All draws come from one ``torch.Generator`` (or torch's global RNG), so a
seeded generator repeats the batch exactly; samples not drawn come back bit-identical.

Run it in the training loop on the collated batch, not inside DataLoader workers: the networks
(and the pool) then live once on the training device, and a batch is one batched pass per family
(per class for ``johnson``), never a Python loop over images. Like dropout it only acts in training
mode: ``eval()`` makes it the identity.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

import torch
from torch import nn

from stylaug.transforms.adain_style import AdaINStyle
from stylaug.transforms.family import StyleFamily
from stylaug.transforms.fourier import FourierStyle
from stylaug.transforms.histogram import HistogramStyle
from stylaug.transforms.johnson_style import JohnsonStyle

FAMILIES = ("adain", "randomized", "johnson", "fda", "histogram_match")
DEFAULT_BETA = 0.05


class Draw(NamedTuple):
    """The random choices for one batch, one entry per sample."""

    applied: torch.Tensor  # bool: stylized or returned unchanged
    style: torch.Tensor  # long: index into the family's pool (0 for johnson)
    alpha: torch.Tensor  # float: strength in [0, 1]


def strength_range(alpha, family: str) -> tuple[float, float]:
    """(lo, hi) of the per-sample strength. ``randomized`` with one number a draws from (0, a),
    Jackson et al.'s random strength; a (lo, hi) pair means the same for every family."""
    if isinstance(alpha, (int, float)):
        lo, hi = (0.0 if family == "randomized" else float(alpha)), float(alpha)
    else:
        lo, hi = (float(a) for a in alpha)
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(
            f"StyleAugment: alpha={alpha!r} must be a strength in [0, 1] or a range (lo, hi) with "
            "0 <= lo <= hi <= 1 (1 = full style, 0 = the source)"
        )
    return lo, hi


def make_family(
    family: str,
    styles=None,
    stylizer: nn.Module | str | os.PathLike | None = None,
    stylizers: Mapping | None = None,
    beta: float | None = None,
) -> StyleFamily:
    """The family module named ``family``, checking it got what it needs and nothing it ignores."""
    given = {"styles": styles, "stylizer": stylizer, "stylizers": stylizers, "beta": beta}
    needs = {
        "adain": ("styles", "stylizer"),
        "randomized": ("styles", "stylizer"),
        "johnson": ("stylizers",),
        "fda": ("styles",),
        "histogram_match": ("styles",),
    }
    if family not in needs:
        raise ValueError(f"StyleAugment: unknown family {family!r}; choose one of {FAMILIES}")
    allowed = {*needs[family], "beta"} if family == "fda" else set(needs[family])
    missing = [k for k in needs[family] if given[k] is None]
    unused = [k for k, v in given.items() if v is not None and k not in allowed]
    if missing or unused:
        raise ValueError(
            f"StyleAugment({family!r}) needs {', '.join(needs[family])}"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; it does not use: {', '.join(unused)}" if unused else "")
        )
    if family in ("adain", "randomized"):
        return AdaINStyle(stylizer, styles)
    if family == "johnson":
        return JohnsonStyle(stylizers)
    if family == "fda":
        return FourierStyle(styles, DEFAULT_BETA if beta is None else beta)
    return HistogramStyle(styles)


class StyleAugment(nn.Module):
    """Per-sample style augmentation of a batch (B, 3, H, W) in [0, 1].

    ``family``: ``"adain"`` / ``"randomized"`` (``stylizer``: a decoder checkpoint from
    ``train_decoder`` or an ``AdaINStylizer``; ``styles``: style images or their statistics),
    ``"johnson"`` (``stylizers``: {class index: stylizer checkpoint or TransformerNet}; call with
    the labels), ``"fda"`` (``styles``, ``beta``), ``"histogram_match"`` (``styles``), or a
    ``StyleFamily`` instance. ``p``: probability per sample; ``alpha``: strength or (lo, hi).
    """

    def __init__(
        self,
        family: str | StyleFamily,
        *,
        styles=None,
        stylizer=None,
        stylizers: Mapping | None = None,
        beta: float | None = None,
        p: float = 0.5,
        alpha: float | tuple[float, float] = 1.0,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if isinstance(family, StyleFamily):
            if any(v is not None for v in (styles, stylizer, stylizers, beta)):
                raise ValueError("StyleAugment: a StyleFamily instance comes with its own styles")
            self.name, self.family = type(family).__name__, family
        else:
            self.name = family
            self.family = make_family(family, styles, stylizer, stylizers, beta)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"StyleAugment: p={p} must be a probability in [0, 1]")
        self.p, self.alpha_range = float(p), strength_range(alpha, self.name)
        self.generator = generator

    def extra_repr(self) -> str:
        return f"family={self.name!r}, p={self.p}, alpha={self.alpha_range}"

    def draw(self, n: int, labels: torch.Tensor | None = None) -> Draw:
        """The random choices for ``n`` samples: always the same number of draws per batch, so a
        generator's stream does not depend on what was drawn. On ``labels``' device if given."""
        g = self.generator
        device = g.device if g is not None else torch.device("cpu")
        applied = torch.rand(n, generator=g, device=device) < self.p
        lo, hi = self.alpha_range
        alpha = lo + (hi - lo) * torch.rand(n, generator=g, device=device)
        pool = self.family.pool_size
        style = (
            torch.randint(pool, (n,), generator=g, device=device)
            if pool
            else torch.zeros(n, dtype=torch.long, device=device)
        )
        if labels is not None:
            applied, style, alpha = (t.to(labels.device) for t in (applied, style, alpha))
        applied = applied & self.family.applicable(labels, n).to(applied.device)
        return Draw(applied, style, alpha)

    @torch.no_grad()
    def apply(self, images: torch.Tensor, draw: Draw, labels=None) -> torch.Tensor:
        """``images`` with the drawn samples stylized (clamped to [0, 1]); the others untouched."""
        chosen = draw.applied.to(images.device).nonzero().squeeze(1)
        if len(chosen) == 0:
            return images
        sub_labels = labels.to(images.device)[chosen] if labels is not None else None
        stylized = self.family(
            images[chosen].float(),
            draw.style.to(images.device)[chosen],
            draw.alpha.to(images.device)[chosen],
            sub_labels,
        )
        return images.index_copy(0, chosen, stylized.clamp(0, 1).to(images.dtype))

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
            raise ValueError(
                f"StyleAugment takes a collated batch of float RGB images (B, 3, H, W) in [0, 1], "
                f"got {tuple(images.shape)} {images.dtype}: apply it after the DataLoader, before "
                "normalisation"
            )
        if self.family.needs_labels and labels is None:
            raise ValueError(f"StyleAugment({self.name!r}) needs the batch's labels: aug(x, y)")
        if not self.training or self.p == 0:
            return images
        return self.apply(images, self.draw(len(images), labels), labels)
