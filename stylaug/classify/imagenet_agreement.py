"""Does a stylized image still look like its source to an ImageNet classifier?

For every stylized image of a style arm, the frozen ImageNet classifier - the classify backbone
with its own ImageNet output layer put back (EfficientNet-Lite0's ``_fc``, ResNet-18's ``fc``) -
labels the source (as stylized: mirrored for view 1) and the stylized image. Agreement is whether
the top-1 labels match, and how many of the top-5 labels they share. The backbone's features of
both images are already in the feature cache (the style arm trains on the stylized ones, sources
are training images), so this costs one matrix product per arm; only mirrored sources are new.

The classifier sees what the classify backbone sees: ``classifier.image_size`` (128 px in the
demo, 224 in the paper's protocol) with the network's normalisation. Only ImageNet-pretrained
backbones have an ImageNet classifier; with ``weights=random`` rows carry no agreement.

Row field ``imagenet_agreement``: the classifier, the stylized set (its folder's name: the family
the report groups by), per class the images, top-1 agreement and top-5 overlap, and per image
``[id, content score, top-1 agree (0/1), top-5 shared (0-5)]`` (id: a digest of the stylized file's
path in its set, so the report counts an image used by several rows once).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision import transforms as T

from stylaug.classify.features import FeatureCache, cached_features
from stylaug.models.weights import build

TOP = 5


def imagenet_head(arch: str) -> tuple[nn.Linear, str]:
    """The ImageNet output layer of ``arch`` (what the classify backbone leaves off)."""
    net, desc = build(arch, "imagenet", "model.backbone.weights")
    return (net._fc if arch.startswith("efficientnet") else net.fc).eval(), desc


def _features(job, paths: list[Path], transform=None, desc: str | None = None) -> np.ndarray:
    f, c = job.features, job.cfg.classifier
    desc = desc or f.transform_desc
    cache = (
        FeatureCache(f.cache_dir, f.weights, desc, f.backbone.dim)
        if f.cache_dir is not None
        else None
    )
    feats, ok, _ = cached_features(
        paths, cache, f.backbone, transform or f.transform, f.trainer, int(c.batch_size),
        int(c.num_workers), job.cfg.data.on_bad_image,
    )  # fmt: skip
    feats[~ok] = np.nan
    return feats


def source_features(job, entries: list[dict]) -> np.ndarray:
    """Features of each entry's source as it was stylized (view 1: mirrored)."""
    out = np.zeros((len(entries), job.features.backbone.dim), np.float32)
    for view in sorted({int(e["view"]) for e in entries}):
        rows = [i for i, e in enumerate(entries) if int(e["view"]) == view]
        paths = [job.index.abspath(entries[i]["source"]) for i in rows]
        if view == 0:
            out[rows] = _features(job, paths)
        else:  # the only other view: mirrored before stylizing (stylaug.data.scenarios)
            tf = T.Compose([T.RandomHorizontalFlip(p=1.0), job.features.transform])
            out[rows] = _features(job, paths, tf, f"hflip|{job.features.transform_desc}")
    return out


def top_labels(head: nn.Linear, feats: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        logits = head(torch.from_numpy(np.nan_to_num(feats)).float())
    return logits.topk(TOP, dim=1).indices.numpy()


def agreement(job, arm: str, style, entries: list[dict], head: nn.Linear, head_desc: str) -> dict:
    """The row's ``imagenet_agreement`` for a style arm's stylized items and manifest entries."""
    stylized = _features(job, [p for p, _ in style.items])
    sources = source_features(job, entries)
    good = ~(np.isnan(stylized).any(1) | np.isnan(sources).any(1))
    a, b = top_labels(head, stylized), top_labels(head, sources)
    top1 = a[:, 0] == b[:, 0]
    shared = np.array([len(set(x) & set(y)) for x, y in zip(a, b, strict=True)])
    points, per_class = [], {}
    for i, ((_, cls), e) in enumerate(zip(style.items, entries, strict=True)):
        if not good[i]:
            continue
        score = e.get("content_score")
        ident = hashlib.sha1(e["output"].encode()).hexdigest()[:10]
        points.append(
            [ident, None if score is None else round(float(score), 4), int(top1[i]), int(shared[i])]
        )
        per_class.setdefault(cls, []).append(i)
    return {
        "classifier": head_desc,
        "input": job.features.transform_desc,
        "set": Path(style.folder).name,
        "per_class": {
            cls: {
                "images": len(ix),
                "top1_agreement": round(float(top1[ix].mean()), 4),
                "top5_overlap": round(float(shared[ix].mean()) / TOP, 4),
            }
            for cls, ix in per_class.items()
        },
        "points": points,
    }
