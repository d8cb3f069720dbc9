"""Stylizing many images with many stylizers at once: ``augment``'s ``trainer.predict`` module.

Each image goes through its own stylizer (the one of its scenario, seed and class), and is scored
on the way (``stylaug.models.image_scores``): how well it kept its source's edges, and how far it and its
source are from that stylizer's style.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import nn

from stylaug.artifacts.manifest import SCORE_KEYS
from stylaug.models.image_scores import edge_correlation, gram_distance
from stylaug.models.loss_net import LossNetwork, gram_matrix
from stylaug.models.stylizer import stylize_batch


class StyleScorer(nn.Module):
    """The three scores of stylized images against their sources and their stylizer's style."""

    def __init__(self, loss_net: LossNetwork, grams: list[dict], layers: list[list[str]]):
        super().__init__()
        self.loss_net = loss_net
        self.grams = grams  # per stylizer: {layer: (1, C, C)}
        self.layers = layers

    @classmethod
    def for_styles(cls, loss_net: LossNetwork, styles: list[dict]) -> StyleScorer:
        """``styles``: per stylizer {"images": [(3, H, W)], "blend": [w], "layers": [names]}."""
        grams = []
        for s in styles:
            with torch.no_grad():
                feats = [loss_net(t[None]) for t in s["images"]]
            grams.append(
                {
                    name: sum(
                        w * gram_matrix(f[name]) for w, f in zip(s["blend"], feats, strict=True)
                    )
                    for name in s["layers"]
                }
            )
        return cls(loss_net, grams, [s["layers"] for s in styles])

    def forward(self, k: int, source: torch.Tensor, stylized: torch.Tensor) -> torch.Tensor:
        """(N, 3): content score, Gram distance of the stylized image, of the source."""
        grams = {name: g.to(source.device) for name, g in self.grams[k].items()}
        layers = self.layers[k]
        return torch.stack(
            [
                edge_correlation(source, stylized),
                gram_distance(self.loss_net(stylized), grams, layers),
                gram_distance(self.loss_net(source), grams, layers),
            ],
            dim=1,
        )


class StylizingPredictor(pl.LightningModule):
    """Batches of (image, stylizer index, ok) -> (uint8 stylized images, scores). ``alpha`` < 1
    blends the stylized image with its source (the Johnson families' strength)."""

    def __init__(
        self,
        nets: list[nn.Module],
        preserve: list[bool],
        scorer: StyleScorer | None = None,
        channels_last: bool = False,
        alpha: float = 1.0,
    ):
        super().__init__()
        self.alpha = float(alpha)
        self.nets = nn.ModuleList(nets).eval().requires_grad_(False)
        self.preserve = list(preserve)
        self.scorer = scorer
        self.channels_last = channels_last
        if channels_last:
            self.nets.to(memory_format=torch.channels_last)

    def predict_step(self, batch, batch_idx):
        images, which, ok = batch
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        out = torch.zeros(images.shape, dtype=torch.uint8, device=images.device)
        scores = torch.full((len(images), len(SCORE_KEYS)), float("nan"), device=images.device)
        for k in which[ok].unique().tolist():
            m = (which == k) & ok
            y = stylize_batch(self.nets[k], images[m], self.preserve[k])
            if self.alpha != 1.0:
                y = self.alpha * y + (1.0 - self.alpha) * images[m].float()
            out[m] = y.mul(255).round_().to(torch.uint8)
            if self.scorer is not None:
                scores[m] = self.scorer(k, images[m].float(), y)
        return out.cpu(), scores.cpu()  # uint8: 4x less to hand to the writer
