"""The classifier the study trains: a new linear layer on a frozen backbone's features.

Batches are ``(x, label, ok)``: x is cached features (N, D), cached random views of them
(N, K, D; epoch e trains on view e mod K), or images (then the frozen backbone runs first, every
epoch). Items with ``ok=False`` (an image that could not be read) take no part. The state of the
epoch with the best validation accuracy (first best wins) is kept in memory and restored by
``load_best()`` before testing.

A head on cached features trains without a Lightning Trainer (``fit_on_features``,
``predict_on_features``): the same batches, steps and best epoch from the head's own methods, at a
third of the time (scripts/bench_heads.py). Heads that run the backbone every epoch use Lightning.
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Sampler, TensorDataset


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
        class_weights: torch.Tensor | None = None,
    ):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("class_weights", class_weights, persistent=False)
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
        loss, n = self.batch_loss(batch, self.current_epoch)
        self.log(f"{self.prefix}train_loss", loss, on_step=False, on_epoch=True, batch_size=n)
        return loss

    def batch_loss(self, batch, epoch: int) -> tuple[torch.Tensor, int]:
        """One training batch's loss over its ok items (of the epoch's view), and their number.
        Shared by ``training_step`` and ``fit_on_features``, so the two cannot drift apart."""
        x, y, ok = batch
        if x.dim() == 3:  # cached random views (N, K, D): epoch e trains on view e mod K
            x = x[:, epoch % x.shape[1]]
        x, y = x[ok], y[ok]
        if epoch == 0:
            self.train_seen += len(y)
        return F.cross_entropy(self(x), y, weight=self.class_weights), len(y)

    def batch_correct(self, batch) -> tuple[int, int]:
        """(correct, counted) over a validation batch's ok items."""
        x, y, ok = batch
        return int((self(x[ok]).argmax(1) == y[ok]).sum()), int(ok.sum())

    def validation_step(self, batch, batch_idx):
        correct, total = self.batch_correct(batch)
        self._correct += correct
        self._total += total

    def on_validation_epoch_end(self):
        acc = self._correct / max(self._total, 1)
        self._correct = self._total = 0
        self.log(f"{self.prefix}val_acc", acc)
        self.end_epoch(acc, self.current_epoch)

    def end_epoch(self, acc: float, epoch: int) -> None:
        """Record the epoch's validation accuracy; keep its state if it beats every earlier one."""
        self.val_history.append(acc)
        if acc > self.best_acc:
            self.best_acc, self.best_epoch = acc, epoch
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
        return iter(self.order().tolist())

    def order(self) -> torch.Tensor:
        """This epoch's permutation of range(n)."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.n, generator=g)


def fit_on_features(
    head: LinearHead,
    train: TensorDataset,
    val: TensorDataset,
    epochs: int,
    batch_size: int,
    seed: int,
    eval_batch: int = 500,
    logger=None,
    bf16: bool = False,
) -> None:
    """Train a head without backbone on cached features as a Lightning fit would - the same
    batches (``EpochShuffle``), steps, validation and best epoch - without a Trainer, whose
    per-step cost is ~3x the step's own on features (scripts/bench_heads.py). The tensors move
    to the head's device once; the best epoch's state is loaded at the end."""
    device = head.fc.weight.device
    x, y, ok = (t.to(device) for t in train.tensors)
    val_batches = list(batches(val, eval_batch, device))
    shuffle, optimizer = EpochShuffle(len(y), seed), head.configure_optimizers()
    for epoch in range(epochs):
        shuffle.set_epoch(epoch)
        head.train()
        loss_sum, seen = torch.zeros((), device=device), 0
        for idx in shuffle.order().to(device).split(batch_size):
            with mixed(device, bf16):
                loss, n = head.batch_loss((x[idx], y[idx], ok[idx]), epoch)
            optimizer.zero_grad(set_to_none=True)  # as Lightning: zero, backward, step
            loss.backward()
            optimizer.step()
            loss_sum, seen = loss_sum + loss.detach() * n, seen + n
        head.eval()
        with torch.no_grad(), mixed(device, bf16):
            counts = [head.batch_correct(b) for b in val_batches]
        acc = sum(c for c, _ in counts) / max(sum(t for _, t in counts), 1)
        head.end_epoch(acc, epoch)
        if logger:
            loss = float(loss_sum) / max(seen, 1)
            metrics = {f"{head.prefix}train_loss": loss, f"{head.prefix}val_acc": acc}
            logger.log_metrics({**metrics, "epoch": epoch}, step=epoch)  # Lightning's columns
    if logger:
        logger.save()
    head.load_best()


@torch.no_grad()
def predict_on_features(
    head: LinearHead, test: TensorDataset, eval_batch: int = 500, bf16: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, targets) of the test set's ok items, batch by batch as Lightning's predict."""
    device = head.fc.weight.device
    head.eval()
    with mixed(device, bf16):
        out = [head.predict_step(b, i) for i, b in enumerate(batches(test, eval_batch, device))]
    return torch.cat([p for p, _ in out]).numpy(), torch.cat([y for _, y in out]).numpy()


def batches(data: TensorDataset, size: int, device: torch.device):
    """The dataset in order, in batches of ``size``, on ``device`` (moved once)."""
    tensors = [t.to(device) for t in data.tensors]
    for start in range(0, len(tensors[0]), size):
        yield tuple(t[start : start + size] for t in tensors)


def mixed(device: torch.device, bf16: bool):
    """Lightning's ``bf16-mixed`` around a step: autocast to bfloat16 (else nothing)."""
    if bf16:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
