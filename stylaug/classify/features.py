"""The frozen backbone's features, computed once per image and cached on disk.

The classifier's backbone is frozen and in eval mode, so its output (512-d for ResNet-18, 1280-d
for EfficientNet-Lite0) is a fixed function of
(image file content, backbone weights, input transform). A sweep of scenarios x arms x seeds
reuses the same few thousand images over and over, so each is pushed through the backbone once
and the head trains on cached features afterwards.

Layout: ``<cache_dir>/<slug>/`` per (weights, transform) pair, with ``meta.json`` describing both
and any number of shards ``shard-<sha256>.npy``. A shard is one structured array ``(key, feat)``
written atomically (temp + rename) and named by the sha256 of its bytes, so concurrent jobs only
ever add whole shards, and a reader checks each shard against its name before using it: a
truncated or altered shard is named in a warning, deleted and its features recomputed, never
reused (numpy alone either fails naming no file or reads the wrong numbers). Readers open shards
with ``mmap`` and copy out just the rows they need, so memory stays at the size of the requested
feature matrix, not of the whole cache. Many small shards are merged into one now and then.

A key is a 16-byte BLAKE2b of (file-content sha256, weights description, transform description,
view), so a moved or renamed file is still a hit and an edited file is a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader
from torchvision import transforms as T

from stylaug.core.interruption import stop_signals
from stylaug.core.io import atomic_write_bytes, atomic_write_json, file_sha256
from stylaug.core.runtime import make_trainer
from stylaug.data.dataset import ImageFiles, SeededView, SourceView, collate_images
from stylaug.data.images import BadImageError
from stylaug.models.backbone import Backbone

log = logging.getLogger(__name__)

RANDOM_INIT_SEED = 0  # random-init backbones are the same network in every run
MAX_SHARDS = 16  # merge shards once a folder holds more than this many


# --- the backbone and its input transform -------------------------------------------------------


class FeatureExtractor(pl.LightningModule):
    """``trainer.predict`` over (images, labels, ok) batches: Lightning picks the device; features
    always come out float32. The backbone runs channels-last, the layout oneDNN's and cuDNN's
    convolutions prefer: on an AVX2 CPU EfficientNet-Lite0 features 1.2x faster at 128 px and 1.7x at
    96 px, ResNet-18 1.3-1.4x, the same up to float rounding (scripts/bench_backbone_layout.py)."""

    def __init__(self, backbone: Backbone):
        super().__init__()
        self.backbone = backbone

    def on_predict_start(self):
        self.backbone.to(memory_format=torch.channels_last)

    def predict_step(self, batch, batch_idx):
        images, _, ok = batch
        images = images.contiguous(memory_format=torch.channels_last)
        return self.backbone(images).float().cpu(), ok.cpu()


def load_backbone(backbone_cfg) -> tuple[Backbone, str]:
    """The frozen backbone in eval mode, and a description of its weights.

    Random init is drawn from a fixed seed and the description carries a digest of the parameters,
    so ``random`` is still a fixed function that cached features can be keyed by.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        model = Backbone(backbone_cfg.arch, backbone_cfg.weights)
    desc = model.weights
    if backbone_cfg.weights == "random":
        h = hashlib.sha1()
        for t in model.state_dict().values():
            h.update(t.detach().cpu().numpy().tobytes())
        desc = f"{desc}(seed={RANDOM_INIT_SEED},params={h.hexdigest()[:12]})"
    return model.eval(), desc


def eval_transform(image_size: int, backbone: Backbone) -> tuple[Callable, str]:
    """The reference code's test transform: Resize to a square + the network's normalisation."""
    s = int(image_size)
    tf = T.Compose(
        [T.Resize((s, s), antialias=True), T.ToTensor(), T.Normalize(backbone.mean, backbone.std)]
    )
    return tf, f"resize({s},{s},bilinear,antialias)|to_tensor|normalize({backbone.normalization})"


# --- keys -----------------------------------------------------------------------------------------


def feature_key(digest: str, weights: str, transform: str, view: int = 0) -> bytes:
    return hashlib.blake2b(
        f"{digest}\n{weights}\n{transform}\n{view}".encode(), digest_size=16
    ).digest()


class FeatureCache:
    """Features of one (weights, transform) pair: ``get`` what is there, ``put`` what was computed."""

    def __init__(self, root: str | os.PathLike, weights: str, transform: str, dim: int):
        self.weights, self.transform, self.dim = weights, transform, int(dim)
        self.dtype = np.dtype([("key", "V16"), ("feat", "<f4", (self.dim,))])
        slug = hashlib.sha1(f"{weights}\n{transform}".encode()).hexdigest()[:16]
        self.dir = Path(root) / slug
        self.dir.mkdir(parents=True, exist_ok=True)
        self._verified: dict[Path, tuple[int, int]] = {}  # shard -> (size, mtime) checked
        meta = self.dir / "meta.json"
        if not meta.exists():
            atomic_write_json(meta, {"weights": weights, "transform": transform, "dim": self.dim})

    def shards(self) -> list[Path]:
        return sorted(self.dir.glob("shard-*.npy"))

    def _open(self, path: Path):
        """The shard, memory-mapped, once its content matches the digest in its name; a damaged
        one is named, deleted and None (its features are then recomputed); None too if another
        job merged it away meanwhile."""
        try:
            stat = path.stat()
            if self._verified.get(path) != (stat.st_size, stat.st_mtime_ns):
                digest = path.stem.removeprefix("shard-")
                if len(digest) != 64:
                    return self._discard(path, "written before shards carried a digest")
                if file_sha256(path) != digest:
                    return self._discard(path, "its content does not match its digest")
                self._verified[path] = (stat.st_size, stat.st_mtime_ns)
            return np.load(path, mmap_mode="r")
        except FileNotFoundError:  # merged away by another job between listing and opening
            return None
        except (OSError, ValueError) as err:  # verified, then damaged: numpy says no more than this
            return self._discard(path, f"numpy cannot read it: {err}")

    def _discard(self, path: Path, why: str) -> None:
        log.warning("feature cache: %s is damaged (%s): deleted, its features are recomputed",
                    path, why)  # fmt: skip
        self._verified.pop(path, None)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return None

    def get(self, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(features [n, dim] float32, found mask [n]); rows not found are zero."""
        want = {k: i for i, k in enumerate(keys)}
        out = np.zeros((len(keys), self.dim), np.float32)
        found = np.zeros(len(keys), bool)
        for path in self.shards():
            shard = self._open(path)
            if shard is None:
                continue
            shard_keys = shard["key"].tobytes()
            for row in range(len(shard)):
                i = want.get(shard_keys[16 * row : 16 * row + 16])
                if i is not None and not found[i]:
                    out[i] = shard["feat"][row]
                    found[i] = True
            del shard
        return out, found

    def put(self, keys: Sequence[bytes], feats: np.ndarray) -> None:
        if not len(keys):
            return
        arr = np.empty(len(keys), self.dtype)
        arr["key"] = np.frombuffer(b"".join(keys), "V16")
        arr["feat"] = feats
        self._write(arr)
        if len(self.shards()) > MAX_SHARDS:
            self.merge()

    def _write(self, arr: np.ndarray) -> Path:
        """One shard, named by the sha256 of its bytes (what it holds is what its name says)."""
        buf = io.BytesIO()
        np.save(buf, arr)
        data = buf.getvalue()
        path = self.dir / f"shard-{hashlib.sha256(data).hexdigest()}.npy"
        atomic_write_bytes(path, data)
        return path

    def merge(self) -> None:
        """Rewrite all shards as one (deduplicated); readers racing with this only lose hits."""
        shards = self.shards()
        parts = [s for s in (self._open(p) for p in shards) if s is not None]
        if not parts:
            return
        merged = np.concatenate([np.asarray(p) for p in parts])
        raw = merged["key"].tobytes()
        first = {raw[16 * i : 16 * i + 16]: i for i in range(len(merged) - 1, -1, -1)}
        kept = self._write(merged[np.sort(np.fromiter(first.values(), int))])
        for p in (p for p in shards if p != kept):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


# --- computing features -----------------------------------------------------------------------------


def extract(
    backbone: Backbone,
    images: ImageFiles,
    trainer: pl.Trainer,
    batch_size: int = 50,
    num_workers: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Run the (eval-mode) backbone over ``images``: (features [n, dim], ok mask [n])."""
    if len(images) == 0:
        return np.zeros((0, backbone.dim), np.float32), np.zeros(0, bool)
    loader = DataLoader(
        images,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate_images,
    )
    backbone.eval()
    with stop_signals(f"feature extraction ({len(images)} images)"):  # exit 143/130, cache kept
        out = trainer.predict(FeatureExtractor(backbone), loader)
    feats = torch.cat([f for f, _ in out]).numpy()
    ok = torch.cat([o for _, o in out]).numpy().astype(bool)
    return feats, ok


def digests(paths: Sequence[Path], on_bad_image: str = "skip") -> list[str | None]:
    """Content digest per file; a missing/unreadable file is None (skip) or an error (error)."""
    out = []
    for p in paths:
        try:
            out.append(file_sha256(p))
        except OSError as err:
            if on_bad_image == "error":
                raise BadImageError(p, f"cannot read file ({err})") from None
            log.warning("skipping unreadable image %s: %s", p, err)
            out.append(None)
    return out


def view_seed(digest: str, view: int) -> int:
    """The seed of random view ``view`` of an image: a fixed function of its content."""
    return int(digest[:8], 16) * 1009 + int(view)


def cached_features(
    paths: Sequence[Path],
    cache: FeatureCache | None,
    backbone: Backbone,
    transform: Callable,
    trainer_factory: Callable[[], pl.Trainer],
    batch_size: int = 50,
    num_workers: int = 0,
    on_bad_image: str = "skip",
    view: int | None = None,
    mirror: bool = False,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Features of ``paths`` (cache hits read, misses computed and added): (feats, ok, stats).

    ``view=k``: features of view k of each image under the random ``transform``, seeded by (file
    content, k) - a fixed function of the image, so cacheable. ``mirror``: ``transform`` is a
    ``SourceView`` and every image is taken in view 1. ``ok[i]`` is False for an unreadable image
    (its row is zero and must be dropped).
    """
    paths = [Path(p) for p in paths]
    digs = digests(paths, on_bad_image)
    feats = np.zeros((len(paths), backbone.dim), np.float32)
    ok = np.array([d is not None for d in digs])
    found = np.zeros(len(paths), bool)
    keys = []
    if cache is not None:
        keys = [
            feature_key(d, cache.weights, cache.transform, view or 0) if d else b"" for d in digs
        ]
        readable = np.flatnonzero(ok)
        got, hit = cache.get([keys[i] for i in readable])
        feats[readable[hit]] = got[hit]
        found[readable[hit]] = True
    todo = np.flatnonzero(ok & ~found)
    if len(todo):
        keys_ = None if view is None else [view_seed(digs[i], view) for i in todo]
        images = ImageFiles(
            [paths[i] for i in todo],
            transform if view is None else SeededView(transform),
            keys=[1] * len(todo) if mirror else keys_,
            on_bad_image=on_bad_image,
        )
        new, new_ok = extract(backbone, images, trainer_factory(), batch_size, num_workers)
        feats[todo] = new
        ok[todo] = new_ok
        if cache is not None:
            good = todo[new_ok]
            cache.put([keys[i] for i in good], feats[good])
    stats = {"hits": int(found.sum()), "computed": int(len(todo)), "bad": int((~ok).sum())}
    return feats, ok, stats


VIEWS_PER_SEED = 10_000  # room for the views of one seed before the next seed's


class ScenarioFeatures:
    """The features one classify job needs, loaded once and shared by its arms."""

    def __init__(self, cfg: DictConfig, backbone: Backbone, weights: str, use_cache: bool):
        c = cfg.classifier
        self.cfg, self.backbone, self.weights = cfg, backbone, weights
        self.transform, self.transform_desc = eval_transform(c.image_size, backbone)
        self.cache_dir = c.cache_dir if use_cache else None
        self.cache = self._cache(self.transform_desc)
        self.feats: dict[Path, np.ndarray] = {}
        self.mirrored: dict[Path, np.ndarray] = {}  # view 1 of a stylization source
        self.bad: set[Path] = set()
        self.stats = {"hits": 0, "computed": 0, "bad": 0}

    def _cache(self, transform_desc: str) -> FeatureCache | None:
        if self.cache_dir is None:
            return None
        return FeatureCache(self.cache_dir, self.weights, transform_desc, self.backbone.dim)

    def trainer(self) -> pl.Trainer:
        return make_trainer(
            self.cfg, "classify", logger=False, devices=1, strategy="auto", precision="32-true",
            enable_model_summary=False, enable_checkpointing=False, progress="backbone features",
        )  # fmt: skip

    def _features(self, paths, cache, transform, view=None, mirror=False):
        c = self.cfg.classifier
        feats, ok, stats = cached_features(
            paths, cache, self.backbone, transform, self.trainer, c.batch_size, c.num_workers,
            self.cfg.data.on_bad_image, view, mirror,
        )  # fmt: skip
        for k in self.stats:
            self.stats[k] += stats[k]
        return feats, ok

    def load(self, paths: list[Path], mirrored: bool = False) -> None:
        """Features of every path not loaded yet (one backbone pass over the cache misses);
        ``mirrored``: of the mirrored image (view 1 of a stylization source)."""
        store = self.mirrored if mirrored else self.feats
        todo = list(dict.fromkeys(p for p in paths if p not in store and p not in self.bad))
        if todo:
            cache, transform = self.cache, self.transform
            if mirrored:
                cache = self._cache(f"hflip|{self.transform_desc}")
                transform = SourceView(self.transform)
            feats, ok = self._features(todo, cache, transform, mirror=mirrored)
            for i, p in enumerate(todo):
                if ok[i]:
                    store[p] = feats[i]
                else:
                    self.bad.add(p)

    def tensors(self, items, views=None) -> tuple[torch.Tensor, ...]:
        """(features [N, dim], labels, ok) of loaded (path, label) items, each in its view
        (``views[i]`` 1 = mirrored; default as is); bad images left out."""
        views = views if views is not None else [0] * len(items)
        keep = [(p, y, v) for (p, y), v in zip(items, views, strict=True) if p not in self.bad]
        rows = [(self.mirrored if v else self.feats)[p] for p, _, v in keep]
        x = np.stack(rows) if rows else np.zeros((0, self.backbone.dim))
        y = torch.tensor([y for _, y, _ in keep], dtype=torch.long)
        return torch.from_numpy(x).float(), y, torch.ones(len(keep), dtype=torch.bool)

    def views(self, items, transform, desc: str, count: int) -> tuple[torch.Tensor, ...]:
        """``count`` cached random views of each (path, label) item: (features [N, count, dim],
        labels, ok); an image unreadable in any view is left out. Each classify seed draws its
        own views (view ids ``seed * VIEWS_PER_SEED + k``), as a fresh transform would."""
        items = [(p, y) for p, y in items if p not in self.bad]
        cache, paths = self._cache(desc), [p for p, _ in items]
        first = int(self.cfg.seed) * VIEWS_PER_SEED
        views = [self._features(paths, cache, transform, view=first + k) for k in range(count)]
        ok = np.logical_and.reduce([v_ok for _, v_ok in views]) if views else np.zeros(0, bool)
        x = np.stack([f for f, _ in views], axis=1)[ok]
        y = torch.tensor([y for (_, y), good in zip(items, ok, strict=True) if good])
        return torch.from_numpy(x).float(), y, torch.ones(len(y), dtype=torch.bool)
