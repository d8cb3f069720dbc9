"""The classifier the study trains: a new linear layer on a frozen backbone's features.

Batches are ``(x, label, ok)``: x is cached features (N, D), cached random views of them
(N, K, D; epoch e trains on view e mod K), or images (then the frozen backbone runs first, every
epoch). Items with ``ok=False`` (an image that could not be read) take no part. The state of the
epoch with the best validation accuracy (first best wins) is kept in memory and restored by
``load_best()`` before testing.
"""

from __future__ import annotations

import copy

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Sampler


class LinearHead(pl.LightningModule):
    def __init__(
        self,
        num_features: int,
        num_classes: int,
        lr: float,
        weight_decay: float,
        backbone: nn.Module | None = None,
        bn_train_mode: bool = False,
        prefix: str = "",
    ):
        super().__init__()
        self.backbone = backbone
        self.bn_train_mode = bn_train_mode
        self.fc = nn.Linear(num_features, num_classes)
        self.lr, self.weight_decay, self.prefix = lr, weight_decay, prefix
        self.best_acc, self.best_epoch, self.best_state = -1.0, -1, None
        self.val_history: list[float] = []
        self.train_seen = 0
        self._correct = self._total = 0

    def on_train_epoch_start(self):
        """Frozen *and* eval: batch-norm statistics never move - unless the reference code's quirk
        is asked for. Set here because Lightning keeps each submodule's mode as it finds it."""
        if self.backbone is not None:
            self.backbone.train(self.bn_train_mode)

    def forward(self, x):
        if self.backbone is not None:
            x = self.backbone(x)
        return self.fc(x)

    def training_step(self, batch, batch_idx):
        x, y, ok = batch
        if x.dim() == 3:  # cached random views (N, K, D): epoch e trains on view e mod K
            x = x[:, self.current_epoch % x.shape[1]]
        x, y = x[ok], y[ok]
        loss = F.cross_entropy(self(x), y)
        if self.current_epoch == 0:
            self.train_seen += len(y)
        self.log(f"{self.prefix}train_loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch, batch_idx):
        x, y, ok = batch
        self._correct += int((self(x[ok]).argmax(1) == y[ok]).sum())
        self._total += int(ok.sum())

    def on_validation_epoch_end(self):
        acc = self._correct / max(self._total, 1)
        self._correct = self._total = 0
        self.val_history.append(acc)
        self.log(f"{self.prefix}val_acc", acc)
        if acc > self.best_acc:
            self.best_acc, self.best_epoch = acc, self.current_epoch
            state = self.state_dict()
            if not self.bn_train_mode:  # the frozen backbone never changes: keep the head only
                state = {k: v for k, v in state.items() if not k.startswith("backbone.")}
            self.best_state = copy.deepcopy(state)

    def load_best(self):
        self.load_state_dict(self.best_state, strict=self.bn_train_mode)
        return self

    def predict_step(self, batch, batch_idx):
        x, y, ok = batch
        return self(x[ok]).argmax(1).cpu(), y[ok].cpu()

    def configure_optimizers(self):
        return torch.optim.Adam(self.fc.parameters(), lr=self.lr, weight_decay=self.weight_decay)


class EpochShuffle(Sampler):
    """The order of epoch e is a permutation drawn from (seed, e) alone.

    Lightning calls ``set_epoch`` before each epoch, so the order does not depend on how often or
    when a loader is iterated (worker processes, persistent workers and prefetching all change
    that), and cached and uncached runs see the same batches.
    """

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())
