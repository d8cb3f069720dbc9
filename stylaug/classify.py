"""``python -m stylaug.classify scenario=biased_case1``: the paper's classifier, one row per arm.

A frozen ResNet-18 (eval mode) with a new 4-way fc, trained with the reference code's defaults
(Adam 1e-3, weight decay 1e-3, 25 epochs, batch 50, Resize 224 + ImageNet normalisation); the epoch
with the best validation accuracy is tested. Arms (``classifier.arms``):

* ``none``  - the scenario's real training images only;
* ``style`` (and any other name in ``classifier.style_sources``) - real + the scenario's stylized
  images, looked up by (source, view) in that folder's ``manifest.jsonl``;
* ``flip_crop_jitter`` / ``randaugment`` - traditional augmentation of the real images.

Because the backbone is a fixed function, the head trains on cached 512-d features
(stylaug/features.py): after the first pass a run is a few seconds of Lightning on a tensor. Runs
that make the backbone's output vary - traditional arms with ``classifier.aug_views=0`` (a fresh
random transform every epoch), ``model.backbone.bn_train_mode=true`` (the reference code's quirk),
or ``classifier.feature_cache=false`` - push images through the backbone every epoch instead.
Traditional arms with ``aug_views=K`` cache K fixed random views per image and cycle through them.

Each arm appends one row to ``results/results.jsonl`` (with per-test-image predictions for the
report's paired tests); an arm whose row (same ``config_hash``) exists is skipped unless
``classifier.force=true``.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import hydra
import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset
from torchvision import transforms as T

from stylaug.data.images import check_on_bad_image, read_image
from stylaug.data.index import load_index
from stylaug.data.scenarios import ScenarioSplit, sample_scenario
from stylaug.features import (
    FeatureCache,
    cached_features,
    digests,
    eval_transform,
    extract,
    feature_key,
    load_backbone,
)
from stylaug.identity import digest, node_settings
from stylaug.io import append_jsonl, read_jsonl
from stylaug.models.backbone import Backbone
from stylaug.models.weights import PRETRAINED_NOTE
from stylaug.runtime import finish_logger, make_logger, make_trainer, run_dir
from stylaug.stats import classification_metrics
from stylaug.stylizer import (
    LEAK_NOTE,
    check_pool,
    checkpoint_path,
    list_id,
    train_command,
    training_list,
)

log = logging.getLogger(__name__)

TRADITIONAL_ARMS = ("flip_crop_jitter", "randaugment")
# manifest keys that vary per image (the rest describe the stylizer that made it)
PER_IMAGE_KEYS = {
    "source",
    "view",
    "class",
    "output",
    "rank",
    "format",
    "content_score",
    "gram_distance",
    "source_gram_distance",
}
# classifier.* keys that cannot change a result (everything else is part of its identity)
RESULT_FREE_KEYS = (
    "arms",
    "force",
    "results_file",
    "cache_dir",
    "num_workers",
    "feature_cache",  # cached and uncached heads see the same batches (tested)
    "augmented_dir",  # the stylized set is identified by what made it (StyleSet.fingerprint)
    "style_sources",
    "aug_views",  # part of the identity of traditional arms only (config_hash)
)
SYNTHETIC_NOTE = "synthetic data: smoke result, never a paper result"
RANDOM_NOTE = "random-init backbone: not comparable to ImageNet results"


# --- arms and their training images ----------------------------------------------------------------


def train_augmentation(arm: str, image_size: int, backbone: Backbone) -> tuple[T.Compose, str]:
    """The random training transform of a traditional arm, and its description (part of cache keys)."""
    s = int(image_size)
    if arm == "flip_crop_jitter":
        aug = [
            T.RandomResizedCrop((s, s), scale=(0.6, 1.0), antialias=True),
            T.RandomHorizontalFlip(),
            T.ColorJitter(0.3, 0.3, 0.3, 0.05),
        ]
    elif arm == "randaugment":
        aug = [T.Resize((s, s), antialias=True), T.RandAugment()]
    else:
        raise ValueError(f"{arm!r} is not a traditional arm ({TRADITIONAL_ARMS})")
    tf = T.Compose([*aug, T.ToTensor(), T.Normalize(backbone.mean, backbone.std)])
    return tf, f"{arm}:{aug!r}|to_tensor|normalize({backbone.normalization})"


def check_arms(cfg: DictConfig) -> list[str]:
    arms = list(cfg.classifier.arms)
    known = ["none", *cfg.classifier.style_sources, *TRADITIONAL_ARMS]
    bad = [a for a in arms if a not in known]
    if bad or not arms or len(set(arms)) != len(arms):
        raise ValueError(
            f"classifier.arms={arms} is not valid: unknown {bad}, or empty/repeated. Known arms: "
            f"{known} (add style variants as classifier.style_sources.<name>=<folder with manifest.jsonl>)"
        )
    return arms


def augment_command(cfg: DictConfig) -> str:
    root = "" if str(cfg.paths.root) == "." else f" paths.root={cfg.paths.root}"
    pool = "" if cfg.stylizer.pool == "scenario" else f" stylizer.pool={cfg.stylizer.pool}"
    return f"python -m stylaug.augment dataset={cfg.dataset.name} seed={cfg.seed}{pool}{root}"


@dataclass
class StyleSet:
    """A style arm's extra training images and what made them."""

    items: list[tuple[Path, str]]  # (stylized file, class)
    stylizers: dict  # class -> {"checkpoints": [...], "weights": ... | "unknown", extra keys}
    fingerprint: list  # what identifies the stylized set in config_hash
    pool: str  # scenario | class: which images the stylizers trained on
    quality: dict  # class -> {content_score, gram_ratio, images}


def missing_style_error(cfg, index, split, arm, manifest, missing, total) -> FileNotFoundError:
    """Name the command that makes what is missing: augment, or first train_stylizer."""
    pool = cfg.stylizer.pool
    untrained = {}
    for cls in split.augment:
        sid = list_id(index, training_list(index, split, cls, pool))
        if split.augment[cls] and not checkpoint_path(cfg.stylizer.out_dir, cls, sid).is_file():
            untrained[cls] = {(split.scenario, split.seed) if pool == "scenario" else (None, None)}
    first = (
        f"`{train_command(index.name, cfg.paths.root, untrained)}"
        + ("" if pool == "scenario" else " stylizer.pool=class")
        + "`, then "
        if untrained
        else ""
    )
    where = "does not exist" if not manifest.exists() else "lacks them"
    return FileNotFoundError(
        f"arm {arm!r}: {len(missing)} of the {total} stylized images that scenario "
        f"{split.scenario!r} (seed {split.seed}, stylizer.pool={pool}) needs are missing "
        f"({manifest} {where}; first missing: {missing[0]}). Make them with {first}"
        f"`{augment_command(cfg)}` (same experiment= and dataset overrides), point "
        f"classifier.style_sources.{arm} at the right folder, or run classifier.arms=[none]."
    )


def style_set(cfg: DictConfig, index, split: ScenarioSplit, arm: str) -> StyleSet:
    """Look up exactly the scenario's (source, view) pairs, as stylized by the stylizer of this
    (scenario, seed, class), in the arm's manifest; fail clearly if any is missing."""
    pool = check_pool(cfg.stylizer.pool)
    folder = Path(cfg.classifier.style_sources[arm])
    manifest = folder / "manifest.jsonl"
    entries = {}
    for e in read_jsonl(manifest):
        entries[(e.get("stylizer_id"), e["source"], int(e["view"]))] = e
    items, missing, used = [], [], {}
    for cls, pairs in split.augment.items():
        sid = list_id(index, training_list(index, split, cls, pool)) if pairs else None
        for source, view in pairs:
            e = entries.get((sid, source, int(view)))
            if e is None or not (folder / e["output"]).exists():
                missing.append(f"{source} (view {view}, stylizer {cls}/{sid})")
                continue
            if e.get("class", cls) != cls:
                raise ValueError(
                    f"{manifest}: {source} is listed as class {e['class']!r}, but it is a {cls!r} "
                    "training image; the manifest does not belong to this dataset. Re-run augment."
                )
            items.append((folder / e["output"], cls))
            used.setdefault(cls, []).append(e)
    if missing:
        total = sum(len(v) for v in split.augment.values())
        raise missing_style_error(cfg, index, split, arm, manifest, missing, total)
    stylizers, fingerprint, quality = {}, [], {}
    for cls, es in used.items():
        extras = {}
        for e in es:
            for k, v in e.items():
                if k not in PER_IMAGE_KEYS:
                    extras.setdefault(k, set()).add(json.dumps(v, sort_keys=True))
        info = {
            k: sorted(json.loads(x) for x in v) if len(v) > 1 else json.loads(next(iter(v)))
            for k, v in extras.items()
        }
        if not any("weight" in k or "loss_net" in k for k in info):
            info["weights"] = "unknown"
        stylizers[cls] = info
        fingerprint.append([cls, {k: sorted(v) for k, v in sorted(extras.items())}])
        quality[cls] = style_quality(es)
    return StyleSet(items, stylizers, [folder.name, pool, sorted(fingerprint)], pool, quality)


def style_quality(entries: list[dict]) -> dict:
    """Mean content score and Gram-distance ratio of the stylized images an arm uses (None for
    images made without scores)."""
    scored = [e for e in entries if "content_score" in e]
    if not scored:
        return {"content_score": None, "gram_ratio": None, "images": len(entries)}
    source = float(np.mean([e["source_gram_distance"] for e in scored]))
    ratio = float(np.mean([e["gram_distance"] for e in scored])) / source if source > 0 else None
    return {
        "content_score": round(float(np.mean([e["content_score"] for e in scored])), 4),
        "gram_ratio": None if ratio is None else round(ratio, 4),
        "images": len(entries),
    }


# --- identity of a result -------------------------------------------------------------------------


def setup_payload(cfg: DictConfig) -> dict:
    """Everything that makes two runs comparable, except seed and arm: the whole dataset,
    scenario, classifier and backbone nodes minus keys that cannot change a result."""
    return {
        "dataset": node_settings(cfg.dataset, ("dir", "source")),
        "scenario": node_settings(cfg.scenario),
        "classifier": node_settings(cfg.classifier, RESULT_FREE_KEYS),
        "backbone": node_settings(cfg.model.backbone),
        "precision": str(cfg.trainer.precision),
    }


def config_hash(cfg: DictConfig, arm: str, style: StyleSet | None) -> str:
    payload = {**setup_payload(cfg), "seed": int(cfg.seed), "arm": arm}
    if style is not None:
        payload["style"] = style.fingerprint
    if arm in TRADITIONAL_ARMS:
        payload["aug_views"] = int(cfg.classifier.aug_views)
    return digest(payload)


# --- the model ------------------------------------------------------------------------------------


class LinearHead(pl.LightningModule):
    """A new fc on backbone features, or on a frozen backbone's output when images come in.

    Keeps the state of the epoch with the best validation accuracy (first best wins) in memory;
    ``load_best()`` restores it before testing. Labels < 0 mark unreadable images and are ignored.
    """

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
        x, y = batch
        loss = F.cross_entropy(self(x), y, ignore_index=-1)
        if self.current_epoch == 0:
            self.train_seen += int((y >= 0).sum())
        self.log(f"{self.prefix}train_loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        keep = y >= 0
        self._correct += int((self(x).argmax(1)[keep] == y[keep]).sum())
        self._total += int(keep.sum())

    def on_validation_epoch_end(self):
        acc = self._correct / max(self._total, 1)
        self._correct = self._total = 0
        self.val_history.append(acc)
        self.log(f"{self.prefix}val_acc", acc)
        if acc > self.best_acc:
            self.best_acc, self.best_epoch = acc, self.current_epoch
            self.best_state = copy.deepcopy(
                {k: v for k, v in self.state_dict().items() if not k.startswith("backbone.")}
                if not self.bn_train_mode
                else self.state_dict()
            )

    def load_best(self):
        self.load_state_dict(self.best_state, strict=self.bn_train_mode)
        return self

    def predict_step(self, batch, batch_idx):
        x, y = batch
        return self(x).argmax(1).cpu(), y.cpu()

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


class LabeledImages(Dataset):
    """(image tensor, label) from files; an unreadable file gets label -1 (data.on_bad_image=skip)."""

    def __init__(self, items, transform, on_bad_image="skip", image_size=224):
        self.items, self.transform = items, transform
        self.on_bad_image, self.image_size = on_bad_image, image_size

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, y = self.items[i]
        img = read_image(path, self.on_bad_image)
        if img is None:
            return torch.zeros(3, self.image_size, self.image_size), -1
        return self.transform(img), y


class ViewFeatures(Dataset):
    """Cached random views [K, N, 512]: epoch e trains on view e mod K of every image."""

    def __init__(self, feats: torch.Tensor, labels: torch.Tensor):
        self.feats, self.labels, self.epoch = feats, labels, 0

    def __len__(self):
        return self.feats.shape[1]

    def __getitem__(self, i):
        return self.feats[self.epoch % len(self.feats), i], self.labels[i]


class SetViewEpoch(pl.Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        ds = trainer.train_dataloader.dataset
        if isinstance(ds, ViewFeatures):
            ds.epoch = trainer.current_epoch


class SeededViews(Dataset):
    """View k of each image under a random transform, seeded by (file digest, k): a fixed function
    of the image, hence cacheable."""

    def __init__(self, items, digests_, view, transform, on_bad_image="skip"):
        self.items, self.digests, self.view = items, digests_, view
        self.transform, self.on_bad_image = transform, on_bad_image

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        img = read_image(self.items[i][0], self.on_bad_image)
        if img is None:
            return torch.zeros(3, 1, 1), False
        seed = int(self.digests[i][:8], 16) * 1009 + self.view
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.transform(img), True


# --- running one scenario ---------------------------------------------------------------------------


class Inputs:
    """The images a run needs, as cached features (feature mode) or as files (image mode)."""

    def __init__(self, cfg: DictConfig, backbone: nn.Module, weights: str, use_cache: bool):
        c = cfg.classifier
        self.cfg, self.backbone, self.weights, self.use_cache = cfg, backbone, weights, use_cache
        self.transform, self.transform_desc = eval_transform(c.image_size, backbone)
        self.cache = (
            FeatureCache(c.cache_dir, weights, self.transform_desc, backbone.dim)
            if use_cache
            else None
        )
        self.feats: dict[Path, np.ndarray] = {}
        self.bad: set[Path] = set()
        self.stats = {"hits": 0, "computed": 0, "bad": 0}

    def trainer(self):
        return make_trainer(
            self.cfg,
            "classify",
            logger=False,
            devices=1,
            strategy="auto",
            precision="32-true",
            enable_model_summary=False,
            enable_checkpointing=False,
        )

    def load(self, paths: list[Path]) -> None:
        """Features of every path not loaded yet (one backbone pass over the cache misses)."""
        todo = list(dict.fromkeys(p for p in paths if p not in self.feats and p not in self.bad))
        if not todo:
            return
        c = self.cfg.classifier
        feats, ok, stats = cached_features(
            todo,
            self.cache,
            self.backbone,
            self.transform,
            self.trainer,
            c.batch_size,
            c.num_workers,
            self.cfg.data.on_bad_image,
        )
        for i, p in enumerate(todo):
            if ok[i]:
                self.feats[p] = feats[i]
            else:
                self.bad.add(p)
        for k in self.stats:
            self.stats[k] += stats[k]

    def tensors(self, items) -> tuple[torch.Tensor, torch.Tensor]:
        keep = [(p, y) for p, y in items if p not in self.bad]
        x = np.stack([self.feats[p] for p, _ in keep]) if keep else np.zeros((0, self.backbone.dim))
        return torch.from_numpy(x).float(), torch.tensor([y for _, y in keep], dtype=torch.long)

    def view_tensors(self, items, arm: str) -> tuple[torch.Tensor, torch.Tensor]:
        """K cached random views per training image of a traditional arm: ([K, N, 512], labels)."""
        c = self.cfg.classifier
        items = [(p, y) for p, y in items if p not in self.bad]
        aug, desc = train_augmentation(arm, c.image_size, self.backbone)
        cache = FeatureCache(c.cache_dir, self.weights, desc, self.backbone.dim)
        digs = digests([p for p, _ in items], self.cfg.data.on_bad_image)
        items = [it for it, d in zip(items, digs, strict=True) if d]
        digs = [d for d in digs if d]
        views = []
        for k in range(int(c.aug_views)):
            keys = [feature_key(d, self.weights, desc, k) for d in digs]
            got, hit = cache.get(keys)
            todo = np.flatnonzero(~hit)
            if len(todo):
                sub = [items[i] for i in todo]
                new, ok = extract(
                    self.backbone,
                    SeededViews(sub, [digs[i] for i in todo], k, aug, self.cfg.data.on_bad_image),
                    self.trainer(),
                    c.batch_size,
                    c.num_workers,
                )
                got[todo] = new
                cache.put([keys[i] for i in todo[ok]], new[ok])
            self.stats["hits"] += int(hit.sum())
            self.stats["computed"] += int(len(todo))
            views.append(got)
        labels = torch.tensor([y for _, y in items], dtype=torch.long)
        return torch.from_numpy(np.stack(views)).float(), labels


def _labeled(paths_by_class: dict, classes, root_fn) -> list[tuple[Path, int]]:
    return [(root_fn(p), classes.index(c)) for c in classes for p in paths_by_class.get(c, [])]


def _confusion_png(cm, classes, title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    from stylaug.io import atomic_path

    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ConfusionMatrixDisplay(np.asarray(cm), display_labels=classes).plot(
        ax=ax, cmap="Blues", colorbar=False, xticks_rotation=45
    )
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path


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


def run_arm(cfg, arm, split, classes, abspath, inputs: Inputs, style, logger, image_mode):
    """Train the head for one arm and test its best epoch; return the row's result fields."""
    c = cfg.classifier
    seed = int(cfg.seed)
    on_bad = cfg.data.on_bad_image
    real = _labeled(split.train, classes, abspath)
    extra = [(p, classes.index(cls)) for p, cls in style.items] if style else []
    val = _labeled(split.val, classes, abspath)
    test = _labeled(split.test, classes, abspath)
    traditional = arm in TRADITIONAL_ARMS
    views = int(c.aug_views) if traditional else 0
    backbone_per_epoch = image_mode or (traditional and views == 0)
    eval_tf = inputs.transform
    if backbone_per_epoch:
        tf = train_augmentation(arm, c.image_size, inputs.backbone)[0] if traditional else eval_tf
        train_ds = LabeledImages(real + extra, tf, on_bad, c.image_size)
        mk = lambda items: LabeledImages(items, eval_tf, on_bad, c.image_size)  # noqa: E731
        val_ds, test_ds = mk(val), mk(test)
        workers = int(c.num_workers)
    else:
        val_ds, test_ds = TensorDataset(*inputs.tensors(val)), TensorDataset(*inputs.tensors(test))
        if views:
            train_ds = ViewFeatures(*inputs.view_tensors(real, arm))
        else:
            train_ds = TensorDataset(*inputs.tensors(real + extra))
        workers = 0
    loader = lambda ds, shuffle: DataLoader(  # noqa: E731
        ds,
        batch_size=int(c.batch_size) if shuffle or backbone_per_epoch else 500,
        sampler=EpochShuffle(len(ds), seed) if shuffle else None,
        num_workers=workers,
        persistent_workers=workers > 0,
    )
    pl.seed_everything(seed, workers=True, verbose=False)
    backbone = None
    if backbone_per_epoch:  # with the batch-norm quirk each arm moves its own copy's statistics
        quirk = bool(cfg.model.backbone.bn_train_mode)
        backbone = copy.deepcopy(inputs.backbone) if quirk else inputs.backbone
    head = LinearHead(
        inputs.backbone.dim,
        len(classes),
        float(c.lr),
        float(c.weight_decay),
        backbone=backbone,
        bn_train_mode=bool(cfg.model.backbone.bn_train_mode),
        prefix=f"{arm}/",
    )
    trainer = make_trainer(
        cfg,
        "classify",
        logger,
        callbacks=[SetViewEpoch()],
        max_epochs=int(c.epochs),
        devices=1,
        strategy="auto",
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        enable_model_summary=False,
        enable_progress_bar=backbone_per_epoch,
    )
    with threads(None if backbone_per_epoch else 1):
        trainer.fit(head, loader(train_ds, True), loader(val_ds, False))
        out = trainer.predict(head.load_best(), loader(test_ds, False))
    pred = torch.cat([p for p, _ in out]).numpy()
    target = torch.cat([y for _, y in out]).numpy()
    keep = target >= 0
    pred, target = pred[keep], target[keep]
    metrics = classification_metrics(target, pred, classes)
    counts = {
        "train": {cls: len(split.train[cls]) for cls in classes},
        "augmented": {cls: sum(1 for _, k in extra if k == i) for i, cls in enumerate(classes)},
        "val": {cls: len(split.val[cls]) for cls in classes},
        "test": {cls: int((target == i).sum()) for i, cls in enumerate(classes)},
        "train_seen": int(head.train_seen),
        "skipped_bad_images": int(len(inputs.bad)),
    }
    if views:
        counts["aug_views"] = views
    return {
        "counts": counts,
        "metrics": metrics,
        "best_epoch": int(head.best_epoch),
        "val_accuracy": float(head.best_acc),
        "val_history": [round(a, 6) for a in head.val_history],
        "classes": list(classes),
        "targets": target.tolist(),
        "predictions": pred.tolist(),
        "test_hash": digest([p.name for p, _ in test]),
        "backbone_every_epoch": bool(backbone_per_epoch),
    }


def classify(cfg: DictConfig) -> list[dict]:
    """Run every configured arm of one (scenario, seed); append and return the new result rows."""
    check_on_bad_image(cfg.data.on_bad_image)
    c = cfg.classifier
    arms = check_arms(cfg)
    if int(c.aug_views) < 0 or int(c.epochs) < 1 or int(c.batch_size) < 1:
        raise ValueError("classifier.epochs and batch_size must be >= 1 and aug_views >= 0")
    index = load_index(cfg.dataset)
    split = sample_scenario(index, cfg.scenario, int(cfg.seed))
    classes = list(index.classes)
    styles = {a: style_set(cfg, index, split, a) for a in arms if a in c.style_sources}
    hashes = {a: config_hash(cfg, a, styles.get(a)) for a in arms}
    done = {r.get("config_hash") for r in read_jsonl(c.results_file)}
    todo = [a for a in arms if c.force or hashes[a] not in done]
    for a in arms:
        if a not in todo:
            log.info(
                "skip %s/%s seed %s: result %s exists (classifier.force=true reruns)",
                split.scenario,
                a,
                cfg.seed,
                hashes[a],
            )
    if not todo:
        return []
    bn_quirk = bool(cfg.model.backbone.bn_train_mode)
    use_cache = bool(c.feature_cache) and not bn_quirk
    image_mode = not use_cache
    backbone, weights = load_backbone(cfg.model.backbone)
    inputs = Inputs(cfg, backbone, weights, use_cache)
    notes = ([SYNTHETIC_NOTE] if index.name == "synthetic" else []) + (
        [RANDOM_NOTE] if "random-init" in weights else []
    )
    if weights.startswith("efficientnet_lite0:imagenet"):
        notes.append(PRETRAINED_NOTE)
    for n in notes:
        log.warning("%s", n)
    name = f"classify-{split.scenario}-seed{cfg.seed}"
    logger = make_logger(cfg, name=name, group=f"classify-{index.name}", job_type="classify")
    rows = []
    try:
        start = time.perf_counter()
        if not image_mode:  # one backbone pass over every cache miss of every arm
            paths = [
                index.abspath(p)
                for part in (split.train, split.val, split.test)
                for ps in part.values()
                for p in ps
            ]
            paths += [p for a in todo if a in styles for p, _ in styles[a].items]
            inputs.load(paths)
        feature_s = time.perf_counter() - start
        for arm in todo:
            t0 = time.perf_counter()
            result = run_arm(
                cfg, arm, split, classes, index.abspath, inputs, styles.get(arm), logger, image_mode
            )
            row = {
                "scenario": split.scenario,
                "arm": arm,
                "seed": int(cfg.seed),
                "dataset": index.name,
                "minority": cfg.scenario.get("minority"),
                "weights": {
                    "backbone": weights,
                    "stylizers": styles[arm].stylizers if arm in styles else None,
                },
                "stylizer_pool": styles[arm].pool if arm in styles else None,
                "style_quality": styles[arm].quality if arm in styles else None,
                **result,
                "config_hash": hashes[arm],
                "setup_hash": digest(setup_payload(cfg)),
                "feature_cache": {
                    "used": use_cache,
                    **inputs.stats,
                    "feature_s": round(feature_s, 3),
                },
                "elapsed_s": round(time.perf_counter() - t0, 3),
                "notes": notes
                + ([LEAK_NOTE] if arm in styles and styles[arm].pool == "class" else []),
                "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            }
            append_jsonl(c.results_file, row)
            rows.append(row)
            m = row["metrics"]
            log.info(
                "%s seed %s arm %-16s acc %.4f  bal %.4f  macro-F1 %.4f  (best epoch %d, val %.4f)",
                split.scenario,
                cfg.seed,
                arm,
                m["accuracy"],
                m["balanced_accuracy"],
                m["macro_f1"],
                row["best_epoch"],
                row["val_accuracy"],
            )
            png = _confusion_png(
                np.array(m["confusion"]),
                classes,
                f"{index.name} {split.scenario} seed {cfg.seed} arm {arm}",
                # one run folder can hold many (scenario, seed) jobs: the pipeline's does
                run_dir(cfg, "classify") / f"confusion_{split.scenario}_seed{cfg.seed}_{arm}.png",
            )
            log_to_logger(logger, row, png)
    finally:
        finish_logger(logger)
    return rows


def log_to_logger(logger, row: dict, png: Path) -> None:
    """A wandb Table of the metrics and the confusion-matrix image (wandb only)."""
    if not logger or type(logger).__name__ != "WandbLogger":
        return
    from PIL import Image

    m, arm = row["metrics"], row["arm"]
    columns = [
        "scenario",
        "arm",
        "seed",
        "dataset",
        "backbone",
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        *[f"acc_{c}" for c in row["classes"]],
    ]
    data = [
        [
            row["scenario"],
            arm,
            row["seed"],
            row["dataset"],
            row["weights"]["backbone"],
            m["accuracy"],
            m["balanced_accuracy"],
            m["macro_f1"],
            *[m["per_class"][c] for c in row["classes"]],
        ]
    ]
    logger.log_table(key=f"{arm}/metrics", columns=columns, data=data)
    logger.log_image(key=f"{arm}/confusion", images=[Image.open(png)])


@hydra.main(version_base="1.3", config_path="../conf", config_name="classify")
def main(cfg: DictConfig) -> None:
    classify(cfg)


if __name__ == "__main__":
    main()
