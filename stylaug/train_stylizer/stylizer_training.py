"""Training a Johnson et al. (2016) stylizer: a LightningModule around the transformer network.

Loss = content_weight * content loss (the output's features vs the input's) + style_weight *
sum_k w_k * style loss against style image k's Gram matrices (a weighted blend of several styles)
+ tv_weight * total variation, all through a frozen perceptual loss network. The style Grams are
computed once, here, and kept as buffers so a resumed run uses exactly the targets it started
with. ``preserve_color`` is applied to the output (``stylize``), not inside the loss.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from stylaug.models.loss_net import (
    LossNetwork,
    content_loss,
    gram_matrix,
    style_loss,
    total_variation,
)
from stylaug.models.stylizer import stylize_batch
from stylaug.models.transformer_net import TransformerNet


class StylizerTraining(pl.LightningModule):
    # stylizer.* keys that are this module's hyperparameters
    HYPERPARAMETERS = (
        "content_weight",
        "style_weight",
        "tv_weight",
        "lr",
        "channels_last",
        "preserve_color",
    )

    def __init__(
        self,
        net: TransformerNet,
        loss_net: LossNetwork,
        style_images: list[torch.Tensor],
        style_blend: list[float],
        content_layers,
        style_layers,
        *,
        content_weight: float = 1e5,
        style_weight: float = 1e10,
        tv_weight: float = 0.0,
        lr: float = 1e-3,
        channels_last: bool = False,
        preserve_color: bool = False,
    ):
        super().__init__()
        self.net, self.loss_net = net, loss_net
        self.content_layers = list(content_layers)
        self.style_layers = list(style_layers)
        self.style_blend = [float(w) for w in style_blend]
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.lr = float(lr)
        self.channels_last = bool(channels_last)
        self.preserve_color = bool(preserve_color)
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        with torch.no_grad():
            for k, image in enumerate(style_images):
                features = self.loss_net(image.unsqueeze(0))
                for name in self.style_layers:
                    self.register_buffer(f"gram{k}_{name}", gram_matrix(features[name]))

    def style_grams(self, k: int) -> dict[str, torch.Tensor]:
        return {name: getattr(self, f"gram{k}_{name}") for name in self.style_layers}

    def losses(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        out = self.net(images)
        features = {k: v.float() for k, v in self.loss_net(out).items()}  # losses in float32
        with torch.no_grad():
            target = {k: v.float() for k, v in self.loss_net(images).items()}
        content = self.content_weight * content_loss(features, target, self.content_layers)
        style = self.style_weight * sum(
            w * style_loss(features, self.style_grams(k), self.style_layers)
            for k, w in enumerate(self.style_blend)
        )
        tv = self.tv_weight * total_variation(out.float()) if self.tv_weight else out.new_zeros(())
        return {"loss": content + style + tv, "content": content, "style": style, "tv": tv}

    def training_step(self, batch, batch_idx):
        images, _, ok = batch
        images = images[ok]  # an image that could not be read is dropped from the step
        if not len(images):
            return None
        losses = self.losses(images)
        self.log("train/loss", losses["loss"], prog_bar=True, batch_size=len(images))
        self.log_dict(
            {f"train/{k}": v for k, v in losses.items() if k != "loss"},
            prog_bar=False,
            batch_size=len(images),
        )
        return losses["loss"]

    def configure_optimizers(self):
        return torch.optim.Adam(self.net.parameters(), lr=self.lr)

    @torch.no_grad()
    def probe(self, images: torch.Tensor) -> dict[str, float]:
        """Losses of the current network on fixed images: a noise-free before/after measure."""
        return {k: float(v) for k, v in self.losses(images.to(self.device)).items()}

    @torch.no_grad()
    def stylize(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images -> stylized [0, 1] images (colour-preserved if configured)."""
        return stylize_batch(self.net, images, self.preserve_color)
