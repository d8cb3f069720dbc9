"""The classifier's arms: what each adds to the scenario's real training images.

* ``none`` - the real images only;
* a style arm (``style``, or any name in ``classifier.style_sources``) - plus the scenario's
  stylized images, each made by the stylizer of this (scenario, seed, class), looked up by
  (stylizer, source, view) in that folder's ``manifest.jsonl``;
* ``flip_crop_jitter`` / ``randaugment`` - traditional augmentation of the real images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig
from torchvision import transforms as T

from stylaug.data.pools import check_pool, checkpoint_path, list_id, train_command, training_list
from stylaug.data.scenarios import ScenarioSplit
from stylaug.io import read_jsonl
from stylaug.manifest import MANIFEST, quality_of
from stylaug.models.backbone import Backbone

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
            untrained[cls] = {(split.scenario, split.seed)}
    first = (
        f"`{train_command(index.name, cfg.paths.root, untrained, pool)}`, then "
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
    manifest = folder / MANIFEST
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
        quality[cls] = quality_of(es)
    return StyleSet(items, stylizers, [folder.name, pool, sorted(fingerprint)], pool, quality)
