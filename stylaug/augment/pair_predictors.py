"""``augment``'s ``trainer.predict`` modules for the style families that pair each image with its own
style image: ``adain`` and ``randomized`` (encoder -> AdaIN -> decoder), ``photoreal`` (batched
Gatys optimisation with the segmentation-consistency and matting-Laplacian terms), and the
network-free ``fda`` and ``histogram_match`` (``stylaug.transforms``' batched functions).

Items are ``(content and style stacked (2, 3, H, W), job index, ok)``; the module looks up each
job's decoder and strength by its index. Scores as for the Johnson families
(``stylaug.models.image_scores``): the content score against the source, and the Gram distances of the
stylized image and of its source to the image's own style image.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from stylaug.artifacts.manifest import SCORE_KEYS
from stylaug.data.dataset import square_tensor
from stylaug.data.images import load_rgb
from stylaug.data.scenarios import apply_view
from stylaug.models.adain import AdaINStylizer, Decoder
from stylaug.models.image_scores import edge_correlation, gram_distance
from stylaug.models.loss_net import LossNetwork, gram_matrix
from stylaug.models.photoreal_loss import batch_photorealism_loss, block_laplacian
from stylaug.transforms import channel_quantiles, fourier_domain_adaptation, match_histograms


class PairView:
    """ImageJob i's source (its view) and its style image, as one (2, 3, size, size) tensor."""

    def __init__(self, size: int, views: list[int], styles: list[str]):
        self.size, self.views, self.styles = int(size), list(views), list(styles)

    def __call__(self, img, i: int) -> torch.Tensor:
        content = square_tensor(apply_view(img, self.views[i]), self.size)
        return torch.stack([content, square_tensor(load_rgb(self.styles[i]), self.size)])


def pair_scores(loss_net, layers, source, stylized, style) -> torch.Tensor:
    """(N, 3): content score, Gram distance of the stylized image and of the source to the style."""
    with torch.no_grad():
        feats = loss_net(torch.cat([stylized, source, style]))
    n = len(source)
    split = {k: v.split(n) for k, v in feats.items()}
    grams = {name: gram_matrix(split[name][2]) for name in layers}
    return torch.stack(
        [
            edge_correlation(source, stylized),
            gram_distance({k: v[0] for k, v in split.items()}, grams, layers),
            gram_distance({k: v[1] for k, v in split.items()}, grams, layers),
        ],
        dim=1,
    )


class PairPredictor(pl.LightningModule):
    """Shared by the pair families: unpack, stylize the readable items, score, return uint8."""

    def __init__(self, scorer: LossNetwork | None, score_layers, alphas: list[float]):
        super().__init__()
        self.scorer, self.score_layers = scorer, list(score_layers)
        self.register_buffer("alphas", torch.tensor(alphas, dtype=torch.float32))

    def stylize(self, content, style, jobs) -> torch.Tensor:
        """(N, 3, H, W) stylized images of the readable items; each family defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not define stylize")

    def predict_step(self, batch, batch_idx):
        pairs, jobs, ok = batch
        content, style = pairs[:, 0], pairs[:, 1]
        out = torch.zeros(content.shape, dtype=torch.uint8, device=content.device)
        scores = torch.full((len(content), len(SCORE_KEYS)), float("nan"), device=content.device)
        if ok.any():
            y = self.stylize(content[ok], style[ok], jobs[ok]).clamp(0, 1)
            out[ok] = y.mul(255).round_().to(torch.uint8)
            if self.scorer is not None:
                scores[ok] = pair_scores(
                    self.scorer, self.score_layers, content[ok], y, style[ok]
                ).float()
        return out.cpu(), scores.cpu()


class AdaINPredictor(PairPredictor):
    """encoder -> AdaIN (job's alpha) -> the job's decoder."""

    def __init__(self, encoder: LossNetwork, layer: str, decoders: list[Decoder], which, alphas,
                 scorer=None, score_layers=()):  # fmt: skip
        super().__init__(scorer, score_layers, alphas)
        self.encoder, self.layer = encoder, layer
        self.decoders = nn.ModuleList(decoders).eval().requires_grad_(False)
        self.register_buffer("which", torch.tensor(which, dtype=torch.long))

    def stylize(self, content, style, jobs) -> torch.Tensor:
        out = torch.empty_like(content, dtype=torch.float32)
        which = self.which[jobs]
        for k in which.unique().tolist():
            m = which == k
            net = AdaINStylizer(self.encoder, self.layer, self.decoders[k])
            out[m] = net(content[m], style[m], self.alphas[jobs[m]])
        return out


class TransformPredictor(PairPredictor):
    """``fda`` (the style's low-frequency amplitudes, window ``beta``) or ``histogram_match``, each
    image with its own style image and strength: one batched call, no network."""

    def __init__(self, family: str, alphas, beta: float = 0.05, scorer=None, score_layers=()):
        super().__init__(scorer, score_layers, alphas)
        self.family, self.beta = family, float(beta)

    def stylize(self, content, style, jobs) -> torch.Tensor:
        alpha = self.alphas[jobs]
        if self.family == "fda":
            return fourier_domain_adaptation(content, style, self.beta, alpha)
        return match_histograms(content, channel_quantiles(style), alpha)


class PhotorealPredictor(PairPredictor):
    """Gatys optimisation of the whole batch at once; the output is blended with the source by
    the job's alpha. Needs a trainer with ``inference_mode=False`` (it optimises pixels)."""

    def __init__(self, optimiser: PhotorealBatch, alphas, scorer=None, score_layers=()):
        super().__init__(scorer, score_layers, alphas)
        self.optimiser = optimiser

    def stylize(self, content, style, jobs) -> torch.Tensor:
        y = self.optimiser(content, style)
        alpha = self.alphas[jobs].view(-1, 1, 1, 1)
        return alpha * y + (1 - alpha) * content


class PhotorealBatch(nn.Module):
    """Photorealistic style transfer of N images at once, each with its own style image.

    Per image: content loss (feature MSE) + style loss (Gram MSE against its own style image) +
    the segmentation-consistency loss (MSE of the segmenter's class probabilities against the
    content's) + Luan et al.'s matting-Laplacian regulariser (one block-diagonal sparse matrix for
    the batch). The batch loss is the sum of the per-image losses, so each image's gradient, and
    with Adam (element-wise) its result, do not depend on what else is in the batch.
    """

    def __init__(self, loss_net: LossNetwork, content_layers, style_layers, segmenter, p):
        super().__init__()
        self.loss_net, self.segmenter = loss_net, segmenter
        self.content_layers, self.style_layers = list(content_layers), list(style_layers)
        self.p = {k: p[k] for k in p}

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        p = self.p
        with torch.no_grad():
            c_feats = self.loss_net(content)
            s_feats = self.loss_net(style)
            targets = {n: c_feats[n].detach() for n in self.content_layers}
            grams = {n: gram_matrix(s_feats[n]) for n in self.style_layers}
            seg_target = self.segmenter(content) if p["seg_weight"] else None
        laplacian = block_laplacian(content, p["epsilon"]) if p["matting_weight"] else None
        with torch.enable_grad():
            x = content.detach().clone().requires_grad_(True)
            opt = torch.optim.Adam([x], lr=float(p["lr"]))
            for _ in range(int(p["iterations"])):
                opt.zero_grad()
                self.loss(x, targets, grams, seg_target, laplacian).backward()
                opt.step()
                with torch.no_grad():
                    x.clamp_(0, 1)
        return x.detach()

    def loss(self, x, targets, grams, seg_target, laplacian) -> torch.Tensor:
        """The batch's total: the sum over images of each image's weighted loss."""
        p = self.p
        feats = self.loss_net(x)
        content = sum(
            (feats[k].float() - targets[k].float()).square().flatten(1).mean(1).sum()
            for k in self.content_layers
        )
        style = sum(
            (gram_matrix(feats[k]) - grams[k]).square().flatten(1).mean(1).sum()
            for k in self.style_layers
        )
        total = p["content_weight"] * content + p["style_weight"] * style
        if seg_target is not None:
            seg = F.mse_loss(self.segmenter(x), seg_target, reduction="sum") / seg_target[0].numel()
            total = total + p["seg_weight"] * seg
        if laplacian is not None:
            total = total + p["matting_weight"] * batch_photorealism_loss(x, laplacian)
        return total
