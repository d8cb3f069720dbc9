"""One arm of ``classify``: its training, validation and test sets, the linear head trained on
them, and what its test gave (the result fields of its row).

The sets are cached backbone features (``stylaug.classify.features``) or, when the backbone must run every
epoch (no cache, a traditional arm with ``classifier.aug_views=0``, the batch-norm quirk), images.
``classify`` decides which arms run and writes their rows; this module is what happens inside one.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset, TensorDataset

from stylaug.classify.arms import REWEIGHTED, StyleSet, traditional_part, train_augmentation
from stylaug.classify.corrupted_test_sets import CorruptedTestSet
from stylaug.classify.features import ScenarioFeatures
from stylaug.classify.linear_head import (
    EpochShuffle,
    LinearHead,
    fit_on_features,
    predict_on_features,
)
from stylaug.core.identity import digest
from stylaug.core.runtime import device_for, make_trainer
from stylaug.core.stats import classification_metrics
from stylaug.data.dataset import ImageFiles, SourceView, collate_images
from stylaug.data.index import DatasetIndex
from stylaug.data.scenarios import ScenarioSplit


@dataclass
class ArmJob:
    """What every arm of one (scenario, seed) shares."""

    cfg: DictConfig
    index: DatasetIndex
    split: ScenarioSplit
    features: ScenarioFeatures
    image_mode: bool  # backbone every epoch for every arm (no cache, or the batch-norm quirk)
    robustness: CorruptedTestSet | None = None  # the corrupted test sets (classifier.robustness)
    imagenet: tuple | None = None  # (ImageNet output layer, its description): style agreement

    @property
    def classes(self) -> list[str]:
        return list(self.index.classes)

    def labelled(self, paths_by_class: dict) -> list[tuple[Path, int]]:
        return [
            (self.index.abspath(p), k)
            for k, c in enumerate(self.classes)
            for p in paths_by_class.get(c, [])
        ]


@dataclass
class ArmData:
    train: Dataset
    val: Dataset
    test: Dataset
    backbone: torch.nn.Module | None  # set: images in, the backbone runs every epoch
    workers: int


def arm_data(job: ArmJob, arm: str, style: StyleSet | None) -> ArmData:
    """The arm's training, validation and test sets, as cached features or as images."""
    c, features = job.cfg.classifier, job.features
    real, val, test = (
        job.labelled(part) for part in (job.split.train, job.split.val, job.split.test)
    )
    extra = [(p, job.classes.index(cls)) for p, cls in style.items] if style else []
    traditional = traditional_part(arm)
    if job.image_mode or (traditional and int(c.aug_views) == 0):
        aug = (
            train_augmentation(traditional, c.image_size, features.backbone)[0]
            if traditional
            else None
        )
        bad = job.cfg.data.on_bad_image
        train, val, test = (
            image_files(items, tf or features.transform, bad)
            for items, tf in ((real, aug), (val, None), (test, None))
        )
        if extra:  # stylized images as they are (a combined arm augments the real ones only)
            added = image_files(extra, features.transform, bad)
            if style.views is not None:  # unstylized sources, each in its view
                added = ImageFiles(
                    [p for p, _ in extra], SourceView(features.transform), [y for _, y in extra],
                    style.views, bad,
                )  # fmt: skip
            train = torch.utils.data.ConcatDataset([train, added])
        backbone = features.backbone
        if job.cfg.model.backbone.bn_train_mode:  # each arm moves its own copy's statistics
            backbone = copy.deepcopy(backbone)
        return ArmData(train, val, test, backbone, int(c.num_workers))
    if traditional:
        aug, desc = train_augmentation(traditional, c.image_size, features.backbone)
        x, y, ok = features.views(real, aug, desc, int(c.aug_views))
        if extra:  # every view of a stylized image is the image itself
            xs, ys, oks = features.tensors(extra, style.views)
            x = torch.cat([x, xs[:, None].expand(-1, x.shape[1], -1)])
            y, ok = torch.cat([y, ys]), torch.cat([ok, oks])
        train = TensorDataset(x, y, ok)
    else:
        real_x, real_y, real_ok = features.tensors(real)
        xs, ys, oks = features.tensors(extra, style.views if style else None)
        train = TensorDataset(
            torch.cat([real_x, xs]), torch.cat([real_y, ys]), torch.cat([real_ok, oks])
        )
    val, test = (TensorDataset(*features.tensors(items)) for items in (val, test))
    return ArmData(train, val, test, None, 0)


def image_files(items: list[tuple[Path, int]], transform, on_bad_image: str) -> ImageFiles:
    return ImageFiles([p for p, _ in items], transform, [y for _, y in items], None, on_bad_image)


def loader(data: ArmData, dataset: Dataset, batch_size: int, seed: int | None = None) -> DataLoader:
    """Training order from (seed, epoch) alone (``EpochShuffle``); evaluation in order."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochShuffle(len(dataset), seed) if seed is not None else None,
        num_workers=data.workers,
        persistent_workers=data.workers > 0,
        collate_fn=collate_images if not isinstance(dataset, TensorDataset) else None,
    )


@contextlib.contextmanager
def threads(n: int | None):
    """A tiny Linear on a tensor gains nothing from intra-op threads and, on a busy CPU, loses a
    lot to their spin-waiting (measured 25x slower with 2 threads on a loaded 2-core machine)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# trainer.precision -> bf16 autocast, for the precisions the plain loop reproduces
PLAIN_PRECISIONS = {"32-true": False, "32": False, "bf16-mixed": True}


def train_and_test(
    job: ArmJob, arm: str, data: ArmData, logger
) -> tuple[LinearHead, np.ndarray, np.ndarray]:
    """Train the head, then predict the test set with its best epoch: (head, predictions, targets).
    On cached features without Lightning: the same result at a third of the time (bench_heads)."""
    head = new_head(job, arm, data)
    plain = data.backbone is None and str(job.cfg.trainer.precision) in PLAIN_PRECISIONS
    pred, target = (fit_plain if plain else fit_lightning)(job, head, data, logger)
    return head, pred, target


def class_balanced_weights(counts: list[int]) -> torch.Tensor:
    """Loss weights n / (C n_c) (scikit-learn's "balanced"): every class weighs the same in total."""
    n = torch.tensor(counts, dtype=torch.float32)
    if (n == 0).any():
        raise ValueError(
            f"a class-balanced loss needs every class in the training set; counts {counts}"
        )
    return n.sum() / (len(n) * n)


def new_head(job: ArmJob, arm: str, data: ArmData) -> LinearHead:
    """The arm's untrained head, its Linear drawn from the job's seed; the ``reweighted`` control's
    loss is class-balanced over its (real) training images."""
    c = job.cfg.classifier
    weights = None
    if arm == REWEIGHTED:
        weights = class_balanced_weights([len(job.split.train[cls]) for cls in job.classes])
    pl.seed_everything(int(job.cfg.seed), workers=True, verbose=False)
    return LinearHead(
        job.features.backbone.dim, len(job.classes), float(c.lr), float(c.weight_decay),
        data.backbone, bool(job.cfg.model.backbone.bn_train_mode), prefix=f"{arm}/",
        class_weights=weights,
    )  # fmt: skip


def fit_lightning(job: ArmJob, head: LinearHead, data: ArmData, logger) -> tuple:
    """A Lightning fit and predict: (predictions, targets). Images, or a precision the plain
    loop does not reproduce."""
    c, seed = job.cfg.classifier, int(job.cfg.seed)
    images = data.backbone is not None
    trainer = make_trainer(
        job.cfg, "classify", logger, max_epochs=int(c.epochs), devices=1, strategy="auto",
        enable_checkpointing=False, num_sanity_val_steps=0, enable_model_summary=False,
        enable_progress_bar=images,
    )  # fmt: skip
    eval_batch = int(c.batch_size) if images else 500
    with threads(None if images else 1):
        trainer.fit(
            head,
            loader(data, data.train, int(c.batch_size), seed),
            loader(data, data.val, eval_batch),
        )
        out = trainer.predict(head.load_best(), loader(data, data.test, eval_batch))
    return torch.cat([p for p, _ in out]).numpy(), torch.cat([y for _, y in out]).numpy()


def fit_plain(job: ArmJob, head: LinearHead, data: ArmData, logger) -> tuple:
    """The same fit and predict on cached features in a plain loop, on the classifier's device."""
    c = job.cfg.classifier
    bf16 = PLAIN_PRECISIONS[str(job.cfg.trainer.precision)]
    head.to(device_for(job.cfg))
    with threads(1):
        fit_on_features(
            head, data.train, data.val, int(c.epochs), int(c.batch_size), int(job.cfg.seed),
            logger=logger, bf16=bf16,
        )  # fmt: skip
        out = predict_on_features(head, data.test, bf16=bf16)
    head.cpu()  # as Lightning leaves it
    return out


def run_arm(job: ArmJob, arm: str, style: StyleSet | None, logger) -> dict:
    """Train the head for one arm and test its best epoch; return the row's result fields."""
    data = arm_data(job, arm, style)
    head, pred, target = train_and_test(job, arm, data, logger)
    robustness = job.robustness.evaluate(head) if job.robustness is not None else None
    classes, split = job.classes, job.split
    counts = {
        "train": {cls: len(split.train[cls]) for cls in classes},
        "augmented": {
            cls: sum(1 for _, c in (style.items if style else []) if c == cls) for cls in classes
        },
        "val": {cls: len(split.val[cls]) for cls in classes},
        "test": {cls: int((target == i).sum()) for i, cls in enumerate(classes)},
        "train_seen": int(head.train_seen),
        "skipped_bad_images": int(len(job.features.bad)),
    }
    if traditional_part(arm) and data.backbone is None:
        counts["aug_views"] = int(job.cfg.classifier.aug_views)
    return {
        "counts": counts,
        "metrics": classification_metrics(target, pred, classes),
        "best_epoch": int(head.best_epoch),
        "val_accuracy": float(head.best_acc),
        "val_history": [round(a, 6) for a in head.val_history],
        "classes": classes,
        "targets": target.tolist(),
        "predictions": pred.tolist(),
        "test_hash": digest([p.name for p, _ in job.labelled(split.test)]),
        "backbone_every_epoch": data.backbone is not None,
        "robustness": robustness,
    }
