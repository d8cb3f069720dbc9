"""Training an AdaIN decoder (Huang & Belongie 2017): a LightningModule around the decoder, the
encoder frozen. The networks and the AdaIN operation are pure torch in ``stylaug.models.adain``."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from stylaug.models.adain import AdaINStylizer, Decoder, adain, style_statistics_loss
from stylaug.models.loss_net import LossNetwork


class AdaINTraining(pl.LightningModule):
    """Trains the decoder; the encoder is frozen. Each batch's style images are the batch's own
    images in another order (every image is a training image of the decoder's list)."""

    HYPERPARAMETERS = ("content_weight", "style_weight", "lr")

    def __init__(
        self,
        encoder: LossNetwork,
        layer: str,
        style_layers,
        decoder: Decoder,
        *,
        content_weight: float = 1.0,
        style_weight: float = 10.0,
        lr: float = 1e-4,
    ):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.layer, self.style_layers = layer, list(style_layers)
        self.content_weight, self.style_weight = float(content_weight), float(style_weight)
        self.lr = float(lr)

    def losses(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        styles = images.roll(1, dims=0)
        with torch.no_grad():
            c_feats, s_feats = self.encoder(images), self.encoder(styles)
            t = adain(c_feats[self.layer], s_feats[self.layer])
        out = self.decoder(t.to(images.dtype))
        o_feats = self.encoder(out)
        content = self.content_weight * F.mse_loss(o_feats[self.layer].float(), t)
        style = self.style_weight * style_statistics_loss(o_feats, s_feats, self.style_layers)
        return {"loss": content + style, "content": content, "style": style}

    def training_step(self, batch, batch_idx):
        images, _, ok = batch
        images = images[ok]
        if len(images) < 2:  # a style needs another image of the batch
            return None
        losses = self.losses(images)
        self.log("train/loss", losses["loss"], prog_bar=True, batch_size=len(images))
        self.log_dict(
            {f"train/{k}": v for k, v in losses.items() if k != "loss"}, batch_size=len(images)
        )
        return losses["loss"]

    def configure_optimizers(self):
        return torch.optim.Adam(self.decoder.parameters(), lr=self.lr)

    @torch.no_grad()
    def probe(self, images: torch.Tensor) -> dict[str, float]:
        """Losses of the current decoder on fixed images: a noise-free before/after measure."""
        return {k: float(v) for k, v in self.losses(images.to(self.device)).items()}

    @torch.no_grad()
    def stylize(self, content: torch.Tensor, style: torch.Tensor, alpha=1.0) -> torch.Tensor:
        return AdaINStylizer(self.encoder, self.layer, self.decoder)(content, style, alpha)
