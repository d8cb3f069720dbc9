"""Arms whose backbone sees images every step: ``classifier.mode=finetune`` (the backbone, all of it
or its last k blocks, trains with the head) and the online arms (``online_<family>``: StyleAugment on
the collated batch; ``mixstyle``: MixStyle inside the backbone) in either mode.

One Lightning module does all of it (``FineTuner``): images in [0, 1] -> online style (training
only) -> the network's normalisation -> backbone -> linear head. With ``trainable_blocks=0`` the
backbone is frozen and in eval mode, which is the linear probe computed from images instead of
cached features: that is how an online arm runs in ``linear_probe`` mode (the feature cache is off
for that arm only, and its row says so), beside ``none`` on cached features - the same function.

The fit goes through the project's trainer (``core.runtime.make_trainer``: precision, accelerator,
devices/DDP). A ``last.ckpt`` is written atomically after every validation, in a folder named by the
row's ``config_hash``; a rerun after a kill resumes from it (``classifier.finetune.resume``) and
ends with the same weights as an uninterrupted run, because every random draw of a step (style
draws, MixStyle, dropout) comes from a seed of (seed, step) and the batch order from (seed, epoch).
"""

from __future__ import annotations

import copy
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader
from torchvision import transforms as T

from stylaug.artifacts.checkpoints import (
    checkpoint_path,
    decoder_command,
    decoder_path,
    train_command,
)
from stylaug.artifacts.style_families import decoder_list
from stylaug.artifacts.training_lists import list_id, training_list
from stylaug.classify.arm_training import class_balanced_weights
from stylaug.classify.arms import ONLINE_ARMS, REWEIGHTED, StyleSet
from stylaug.classify.linear_head import EpochShuffle
from stylaug.core.identity import digest, node_settings
from stylaug.core.resumable_training import AtomicCheckpoint
from stylaug.core.runtime import make_trainer
from stylaug.core.stats import classification_metrics
from stylaug.data.dataset import ImageFiles, SourceView, collate_images, square_tensor
from stylaug.data.images import load_rgb
from stylaug.models.backbone import Backbone
from stylaug.transforms import MixStyle, StyleAugment, insert_mixstyle

log = logging.getLogger(__name__)

LINEAR_PROBE, FINETUNE = "linear_probe", "finetune"
MODES = (LINEAR_PROBE, FINETUNE)
MIXSTYLE = "mixstyle"
ONLINE_NOTE = (
    "online style with a frozen backbone: the feature cache is off for this arm (the backbone "
    "runs on every training image every epoch)"
)


def check_mode(c) -> str:
    mode = str(c.get("mode", LINEAR_PROBE))
    if mode not in MODES:
        raise ValueError(f"classifier.mode={mode!r} is not valid; use {' or '.join(MODES)}")
    return mode


# classifier.* keys that enter a row's identity only where they matter (``mode_payload``,
# ``online_payload``), so rows made before these keys existed keep their hashes
MODE_KEYS = ("mode", "finetune", "online")
RUN_KEYS = ("checkpoint_dir", "resume", "keep_checkpoints")  # how, not what, a fine-tune trains


def mode_payload(c) -> dict:
    """The setup's mode, when it is not the linear probe (whose rows predate it)."""
    if check_mode(c) == LINEAR_PROBE:
        return {}
    return {"mode": FINETUNE, "finetune": node_settings(c.finetune, RUN_KEYS)}


def online_payload(c, arm: str) -> dict | None:
    """An online arm's own settings (its family, p, alpha and pool)."""
    if arm not in ONLINE_ARMS:
        return None
    return {**online_record(c, arm), "pool_size": c.online.pool_size}


def uses_images(c, arm: str) -> bool:
    """Whether this arm runs through ``FineTuner``: every arm when fine-tuning, online arms always."""
    return check_mode(c) == FINETUNE or arm in ONLINE_ARMS


# --- which parts of the backbone train --------------------------------------------------------------


def backbone_blocks(backbone: Backbone) -> list[list[nn.Module]]:
    """The backbone as an ordered list of blocks (stem, stages or MBConv blocks, head), so that
    "the last k blocks" means the same thing for either architecture."""
    net = backbone.net
    if backbone.arch == "resnet18":
        return [[net.conv1, net.bn1], [net.layer1], [net.layer2], [net.layer3], [net.layer4]]
    return [[net._conv_stem, net._bn0], *[[b] for b in net._blocks], [net._conv_head, net._bn1]]


def trained_blocks(backbone: Backbone, k) -> list[nn.Module]:
    """The modules of the last ``k`` blocks (``all``: every block; 0: none)."""
    blocks = backbone_blocks(backbone)
    if str(k) == "all":
        k = len(blocks)
    if not isinstance(k, int) and not str(k).isdigit() or not 0 <= int(k) <= len(blocks):
        raise ValueError(
            f"classifier.finetune.trainable_blocks={k!r} must be 'all' or an integer 0..{len(blocks)} "
            f"({backbone.arch} has {len(blocks)} blocks)"
        )
    return [m for block in blocks[len(blocks) - int(k) :] for m in block]


# --- the module ---------------------------------------------------------------------------------------


class FineTuner(pl.LightningModule):
    """Backbone + linear head trained on images; the best validation epoch's state is kept (first
    best wins) and survives a resume (it travels in the checkpoint)."""

    def __init__(self, backbone: Backbone, num_classes: int, lr: float, backbone_lr: float,
                 weight_decay: float, trainable_blocks, seed: int, style: StyleAugment | None = None,
                 class_weights: torch.Tensor | None = None):  # fmt: skip
        super().__init__()
        self.backbone = backbone.requires_grad_(False)
        self.trained = trained_blocks(backbone, trainable_blocks)  # a list: not registered twice
        for m in self.trained:
            m.requires_grad_(True)
        self.mixers = [m for m in backbone.modules() if isinstance(m, MixStyle)]
        self.fc = nn.Linear(backbone.dim, num_classes)
        self.register_buffer("class_weights", class_weights, persistent=False)
        self.register_buffer("mean", torch.tensor(backbone.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(backbone.std).view(1, 3, 1, 1), persistent=False)
        self.online = [style] if style is not None else []  # not a submodule: not in checkpoints
        self.lr, self.backbone_lr, self.weight_decay = lr, backbone_lr, weight_decay
        self.seed = int(seed)
        self.best_acc, self.best_epoch, self.best_state = -1.0, -1, None
        self.val_history: list[float] = []
        self.train_seen = 0
        self._correct = self._total = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone((images - self.mean) / self.std))

    def on_fit_start(self):
        self.online = [s.to(self.device) for s in self.online]

    def on_train_epoch_start(self):
        """Frozen blocks stay in eval mode (batch-norm statistics fixed), trained blocks and the
        MixStyle layers train: set here because Lightning keeps each submodule's mode."""
        self.backbone.eval()
        for m in [*self.trained, *self.mixers, *self.online]:
            m.train()

    def on_train_batch_start(self, batch, batch_idx):
        """Every random draw of this step (style, MixStyle, dropout) from (seed, step) alone, so a
        resumed run draws what the uninterrupted one drew."""
        torch.manual_seed(self.seed * 1_000_003 + int(self.global_step))

    def training_step(self, batch, batch_idx):
        x, y, ok = batch
        x, y = x[ok], y[ok]
        if self.online:
            x = self.online[0](x, y)
        if self.current_epoch == 0:
            self.train_seen += len(y)
        loss = F.cross_entropy(self(x), y, weight=self.class_weights)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch, batch_idx):
        x, y, ok = batch
        self._correct += int((self(x[ok]).argmax(1) == y[ok]).sum())
        self._total += int(ok.sum())

    def on_validation_epoch_end(self):
        acc = self._correct / max(self._total, 1)
        self._correct = self._total = 0
        self.log("val_acc", acc)
        self.val_history.append(acc)
        if acc > self.best_acc:
            self.best_acc, self.best_epoch = acc, int(self.current_epoch)
            self.best_state = copy.deepcopy(self.state_dict())

    def on_save_checkpoint(self, checkpoint):
        checkpoint["stylaug_best"] = {
            "acc": self.best_acc, "epoch": self.best_epoch, "state": self.best_state,
            "history": self.val_history, "train_seen": self.train_seen,
        }  # fmt: skip

    def on_load_checkpoint(self, checkpoint):
        best = checkpoint["stylaug_best"]
        self.best_acc, self.best_epoch, self.best_state = best["acc"], best["epoch"], best["state"]
        self.val_history, self.train_seen = list(best["history"]), int(best["train_seen"])

    def load_best(self):
        self.load_state_dict(self.best_state)
        return self

    def configure_optimizers(self):
        groups = [{"params": list(self.fc.parameters()), "lr": self.lr}]
        trained = [p for m in self.trained for p in m.parameters()]
        if trained:
            groups.append({"params": trained, "lr": self.backbone_lr})
        return torch.optim.Adam(groups, weight_decay=self.weight_decay)


# --- online style: what each family needs from the scenario ---------------------------------------


def style_pool(job, size: int) -> torch.Tensor:
    """Style images for the pool families: up to ``classifier.online.pool_size`` of the scenario's
    own training images (every class; drawn from the seed), at the classifier's input size."""
    images = sorted(p for cls in job.classes for p in job.split.train.get(cls, []))
    count = len(images) if not size else min(int(size), len(images))
    chosen = np.random.default_rng(int(job.cfg.seed)).choice(len(images), count, replace=False)
    side = int(job.cfg.classifier.image_size)
    return torch.stack([square_tensor(load_rgb(job.index.abspath(images[i])), side)
                        for i in sorted(chosen)])  # fmt: skip


def online_style(job, family: str) -> tuple[StyleAugment, dict]:
    """The StyleAugment of an ``online_<family>`` arm, and what made it (recorded in the row)."""
    cfg, o = job.cfg, job.cfg.classifier.online
    pool = str(cfg.stylizer.pool)
    alpha = tuple(o.alpha) if not isinstance(o.alpha, int | float) else float(o.alpha)
    kwargs, made_by = {}, {}
    if family in ("adain", "randomized"):
        did = list_id(job.index, decoder_list(job.index, job.split, pool))
        path = decoder_path(cfg.decoder.out_dir, did)
        if not path.is_file():
            need = {did: {(job.split.scenario, job.split.seed)}}
            raise FileNotFoundError(
                f"arm online_{family} needs the AdaIN decoder of this scenario's training set "
                f"({path}); train it with {decoder_command(job.index.name, cfg.paths.root, need, pool)}"
            )
        kwargs["stylizer"], made_by["decoder"] = path, str(path)
    if family == "johnson":
        paths = {}
        for k, cls in enumerate(job.classes):
            sid = list_id(job.index, training_list(job.index, job.split, cls, pool))
            paths[k] = checkpoint_path(cfg.stylizer.out_dir, cls, sid)
        missing = {c: {(job.split.scenario, job.split.seed)} for k, c in enumerate(job.classes)
                   if not paths[k].is_file()}  # fmt: skip
        if missing:
            raise FileNotFoundError(
                f"arm online_johnson needs the stylizers of this scenario's classes (missing: "
                f"{sorted(missing)}); train them with "
                f"{train_command(job.index.name, cfg.paths.root, missing, pool)}"
            )
        kwargs["stylizers"], made_by["stylizers"] = paths, {c: str(paths[k])
                                                             for k, c in enumerate(job.classes)}  # fmt: skip
    else:
        kwargs["styles"] = style_pool(job, o.pool_size)
        made_by["style_images"] = len(kwargs["styles"])
    if family == "fda":
        kwargs["beta"] = float(cfg.augment.fda_beta)
        made_by["beta"] = kwargs["beta"]
    return StyleAugment(family, p=float(o.p), alpha=alpha, **kwargs), made_by


def online_record(c, arm: str) -> dict | None:
    """What an online arm's row records: its family, p and alpha (MixStyle: its Beta alpha)."""
    family = ONLINE_ARMS.get(arm)
    if family is None:
        return None
    o = c.online
    alpha = o.mixstyle_alpha if family == MIXSTYLE else o.alpha
    alpha = list(alpha) if not isinstance(alpha, int | float) else float(alpha)
    return {"family": family, "p": float(o.p), "alpha": alpha}


# --- one arm --------------------------------------------------------------------------------------


def image_sets(job, style: StyleSet | None):
    """Training (real + the arm's added images), validation and test images in [0, 1]."""
    side = int(job.cfg.classifier.image_size)
    tf = T.Compose([T.Resize((side, side), antialias=True), T.ToTensor()])
    bad = job.cfg.data.on_bad_image

    def files(items, views=None, transform=tf):
        return ImageFiles([p for p, _ in items], transform, [y for _, y in items], views, bad)

    real, val, test = (job.labelled(part) for part in (job.split.train, job.split.val,
                                                        job.split.test))  # fmt: skip
    train = files(real)
    if style is not None and style.items:
        extra = [(p, job.classes.index(cls)) for p, cls in style.items]
        added = files(extra, style.views, SourceView(tf)) if style.views else files(extra)
        train = ConcatDataset([train, added])
    return train, files(val), files(test)


def work_dir(c, config_hash: str) -> Path:
    return Path(c.finetune.checkpoint_dir) / config_hash


def run_finetune_arm(job, arm: str, style: StyleSet | None, logger, config_hash: str) -> dict:
    """Fine-tune (or, frozen, probe from images) one arm; its row's result fields."""
    cfg, c = job.cfg, job.cfg.classifier
    ft, mode = c.finetune, check_mode(c)
    start, cpu_start = time.perf_counter(), time.process_time()
    family = ONLINE_ARMS.get(arm)
    backbone = copy.deepcopy(job.features.backbone)
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    made_by = {}
    if family == MIXSTYLE:
        insert_mixstyle(backbone, p=float(c.online.p), alpha=float(c.online.mixstyle_alpha))
    augment = None
    if family is not None and family != MIXSTYLE:
        augment, made_by = online_style(job, family)
    weights = None
    if arm == REWEIGHTED:
        weights = class_balanced_weights([len(job.split.train[cls]) for cls in job.classes])
    blocks = ft.trainable_blocks if mode == "finetune" else 0
    pl.seed_everything(
        int(cfg.seed), workers=True, verbose=False
    )  # the head's init: as the probe's
    module = FineTuner(backbone, len(job.classes), float(c.lr), float(ft.lr), float(c.weight_decay),
                       blocks, int(cfg.seed), augment, weights)  # fmt: skip
    train, val, test = image_sets(job, style)
    workers = int(c.num_workers)
    load = dict(num_workers=workers, persistent_workers=workers > 0, collate_fn=collate_images)
    bs = int(c.batch_size)
    work = work_dir(c, config_hash)
    if c.force and work.exists():
        shutil.rmtree(work)
    last = work / "last.ckpt"
    # the newest epoch's state as last.ckpt (no monitor, top 1: each save replaces the previous)
    checkpoint = AtomicCheckpoint(dirpath=work, filename="last", save_top_k=1,
                                  enable_version_counter=False)  # fmt: skip
    trainer = make_trainer(
        cfg, "classify", logger, [checkpoint, *extra_callbacks()], max_epochs=int(c.epochs),
        num_sanity_val_steps=0, enable_model_summary=False, enable_progress_bar=False,
        use_distributed_sampler=True,
    )  # fmt: skip
    resume = bool(ft.resume) and last.is_file()
    if resume:
        log.info("%s: resuming from %s", arm, last)
    trainer.fit(
        module,
        DataLoader(train, batch_size=bs, sampler=EpochShuffle(len(train), int(cfg.seed)), **load),
        DataLoader(val, batch_size=bs, **load),
        ckpt_path=str(last) if resume else None,
    )
    if not trainer.is_global_zero:
        return {}
    module.load_best().eval()
    pred, target = predict(module.to(trainer.strategy.root_device), DataLoader(test, bs, **load))
    if not ft.keep_checkpoints:
        shutil.rmtree(work, ignore_errors=True)
    counts = {
        "train": {cls: len(job.split.train[cls]) for cls in job.classes},
        "augmented": {
            cls: sum(1 for _, k in (style.items if style else []) if k == cls)
            for cls in job.classes
        },  # fmt: skip
        "val": {cls: len(job.split.val[cls]) for cls in job.classes},
        "test": {cls: int((target == i).sum()) for i, cls in enumerate(job.classes)},
        "train_seen": int(module.train_seen),
        "skipped_bad_images": int(len(job.features.bad)),
    }
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "counts": counts,
        "metrics": classification_metrics(target, pred, job.classes),
        "best_epoch": int(module.best_epoch),
        "val_accuracy": float(module.best_acc),
        "val_history": [round(a, 6) for a in module.val_history],
        "classes": job.classes,
        "targets": target.tolist(),
        "predictions": pred.tolist(),
        "test_hash": digest([p.name for p, _ in job.labelled(job.split.test)]),
        "backbone_every_epoch": True,
        "robustness": None,
        "finetune": {
            "trainable_blocks": str(blocks),
            "backbone_lr": float(ft.lr),
            "trainable_parameters": sum(p.numel() for p in module.parameters() if p.requires_grad),
            "resumed": resume,
        },  # fmt: skip
        "online": {**online_record(c, arm), "made_by": made_by} if family else None,
        "cost": {
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
            "device": trainer.strategy.root_device.type,
            "steps": int(trainer.global_step),
        },  # fmt: skip
    }


def extra_callbacks() -> list:
    """Callbacks added to every fine-tuning fit (none; tests add an interruption here)."""
    return []


@torch.no_grad()
def predict(module: FineTuner, loader: DataLoader) -> tuple[np.ndarray, np.ndarray]:
    preds, targets = [], []
    for x, y, ok in loader:
        x, y, ok = x.to(module.device), y, ok
        preds.append(module(x[ok.to(module.device)]).argmax(1).cpu())
        targets.append(y[ok])
    return torch.cat(preds).numpy(), torch.cat(targets).numpy()
