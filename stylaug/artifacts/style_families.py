"""Style families: the kinds of stylized set ``augment`` can make, and what each image is made from.

Every family stylizes exactly the sources a scenario asks for (``ScenarioSplit.augment``: the front
of that scenario's own training list) and writes the same manifest; they differ in what stylizes:

* ``johnson`` - the paper's: the Johnson network of the image's class, trained on that scenario's
  training images of the class (``stylizer.pool``); ``johnson_color`` - the same with
  colour-preserving output (luminance from the network, chroma from the source);
  ``johnson_cross`` - the network of another class of the same (scenario, seed), the class drawn
  from ``augment.style_seed`` and the list's own seed.
* ``adain`` - arbitrary style transfer (Huang & Belongie 2017): the loss network's encoder, AdaIN,
  and a decoder trained by ``train_decoder`` on the scenario's training images of every class
  (one decoder per scenario training set, so it never saw a validation or test image). Each image
  gets a style image from the pool, drawn per image.
* ``randomized`` - style randomization (Jackson et al. 2018, with AdaIN as the stylizer): a random
  style from the pool and a random strength alpha_i ~ U(0, alpha), both drawn per image.
* ``photoreal`` - the paper's future work: Gatys optimisation with the segmentation-consistency
  loss and the matting-Laplacian term, batched over many images (``stylaug.photoreal_batch``).
* ``fda`` (Fourier domain adaptation, Yang & Soatto 2020: the style image's low-frequency
  amplitudes, ``augment.fda_beta``) and ``histogram_match`` (each channel's histogram becomes the
  style image's) - the cheap baselines, no network: ``stylaug.transforms``' batched torch code,
  each image with a style image drawn from the pool as for adain.

``augment.alpha`` is the strength: AdaIN interpolates features (alpha * AdaIN(c, s) + (1 - alpha) *
c); the Johnson and photoreal families blend their output with the source. Style pools
(``augment.style_pool``): ``same_class`` (the scenario's training images of the image's class),
``all_classes`` (the scenario's training images of every class) or ``folder=PATH`` (any images,
e.g. paintings; unreadable or too-small files are skipped and counted).

Every image is identified in its manifest by its *slot* (``stylizer_id``): what it was made with,
computable from the scenario split alone, so ``classify`` finds each scenario's own images:

| family | slot | made by |
|---|---|---|
| johnson, johnson_color | the class's training list id | that list's stylizer |
| johnson_cross | ``<list id>-x<other class's list id>`` | the other class's stylizer |
| adain, randomized | ``<list id>-d<the scenario's training set id>`` | the decoder of that set |
| photoreal | ``<list id>`` (same_class, folder), ``<list id>-p<set id>`` (all_classes) | optimisation |
| fda, histogram_match | as photoreal | the transform |

Per-image random choices come from ``numpy.random.default_rng([style_seed, slot, source, view])``:
independent of the order and batching of the work, so a rerun makes byte-identical images.
"""

from __future__ import annotations

import logging
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from stylaug.artifacts.training_lists import list_id, list_seed, training_list
from stylaug.data.images import read_image
from stylaug.data.index import DatasetIndex
from stylaug.data.scenarios import ScenarioSplit

log = logging.getLogger(__name__)

STYLE_FAMILIES = ("johnson", "johnson_color", "johnson_cross", "adain", "randomized", "photoreal",
                  "fda", "histogram_match")  # fmt: skip
TRANSFORM_FAMILIES = ("fda", "histogram_match")  # no network: a stylaug.transforms function
# families that draw style images from a pool
POOL_FAMILIES = ("adain", "randomized", "photoreal", *TRANSFORM_FAMILIES)
DEFAULT_POOL = "same_class"


def pool_name(pool: str) -> str:
    """A style pool as a folder-name part: same_class, all_classes, folder-<name>."""
    pool = str(pool)
    if pool.startswith("folder="):
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", pool[len("folder=") :].rstrip("/").split("/")[-1])
        return f"folder-{name or 'root'}"
    return pool


def set_tag(family: str, alpha, pool: str) -> str:
    tag = str(family)
    if family in POOL_FAMILIES and str(pool) != DEFAULT_POOL:
        tag += f"_{pool_name(pool)}"
    if float(alpha) != 1.0:
        tag += f"_a{float(alpha):g}"
    return tag


def register() -> None:
    """``${stylaug.set_tag:FAMILY,ALPHA,POOL}`` in the configs: a stylized set's folder name."""
    OmegaConf.register_new_resolver("stylaug.set_tag", set_tag, replace=True)


JOHNSON_FAMILIES = ("johnson", "johnson_color", "johnson_cross")
DECODER_FAMILIES = ("adain", "randomized")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def check_family(family: str) -> str:
    if family not in STYLE_FAMILIES:
        raise ValueError(
            f"augment.family={family!r} is not a style family; choose one of {list(STYLE_FAMILIES)}"
        )
    return family


def check_alpha(alpha) -> float:
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"augment.alpha={alpha} must be in [0, 1] (1 = full style, 0 = source)")
    return alpha


def check_style_pool(spec: str) -> str:
    spec = str(spec)
    if spec in ("same_class", "all_classes") or (spec.startswith("folder=") and len(spec) > 7):
        return spec
    raise ValueError(
        f"augment.style_pool={spec!r} is not valid; use same_class, all_classes or folder=PATH"
    )


def sets_to_make(a) -> list[tuple[str, float]]:
    """(family, alpha) of every set ``augment`` makes: ``augment.families`` x ``augment.alphas``
    (null: the single ``augment.family`` / ``augment.alpha``)."""
    families = [a.family] if a.get("families") is None else list(a.families)
    alphas = [a.alpha] if a.get("alphas") is None else list(a.alphas)
    if not families or not alphas:
        raise ValueError("augment.families and augment.alphas must not be empty (null: one set)")
    return [(check_family(f), check_alpha(x)) for f in families for x in alphas]


# --- what makes an image ------------------------------------------------------------------------


@dataclass(frozen=True)
class Maker:
    kind: str  # stylizer | decoder | photoreal
    cls: str | None  # a stylizer's class
    id: str  # a stylizer's or decoder's list id; "photoreal"


@dataclass(frozen=True)
class Slot:
    id: str  # the manifest's stylizer_id: what classify looks up with (source, view)
    cls: str  # the class of the images it makes
    maker: Maker
    style_list: str | None  # pool families: the list the style images come from


def decoder_list(index: DatasetIndex, split: ScenarioSplit | None, pool: str) -> list[str]:
    """A decoder's training images: the scenario's training images of every class (sorted)."""
    return sorted(p for cls in index.classes for p in training_list(index, split, cls, pool))


def cross_class(classes, cls: str, identifier: str, style_seed: int) -> str:
    """The other class whose network stylizes ``cls`` in johnson_cross, drawn from the seed."""
    others = [c for c in classes if c != cls]
    if not others:
        raise ValueError("augment.family=johnson_cross needs at least two classes")
    rng = np.random.default_rng([int(style_seed), list_seed(identifier)])
    return others[int(rng.integers(len(others)))]


def slot_for(index, split: ScenarioSplit, cls: str, a, pool: str) -> Slot:
    """What makes the stylized images of ``cls`` in this (scenario, seed), for ``a.family``.
    Every slot id starts with the class's training-list id, so it is unique per class."""
    family = check_family(a.family)
    sid = list_id(index, training_list(index, split, cls, pool))
    if family in ("johnson", "johnson_color"):
        return Slot(sid, cls, Maker("stylizer", cls, sid), None)
    if family == "johnson_cross":
        other = cross_class(index.classes, cls, sid, a.style_seed)
        osid = list_id(index, training_list(index, split, other, pool))
        return Slot(f"{sid}-x{osid}", cls, Maker("stylizer", other, osid), None)
    did = list_id(index, decoder_list(index, split, pool))
    every = check_style_pool(a.style_pool) == "all_classes"
    style_list = did if every else sid
    if family in DECODER_FAMILIES:
        return Slot(f"{sid}-d{did}", cls, Maker("decoder", None, did), style_list)
    maker = Maker("transform", None, family) if family in TRANSFORM_FAMILIES else (
        Maker("photoreal", None, "photoreal"))  # fmt: skip
    return Slot(f"{sid}-p{did}" if every else sid, cls, maker, style_list)


# --- style pools ----------------------------------------------------------------------------------


@dataclass
class StylePool:
    """Style images (dataset-relative for the scenario pools, absolute for a folder)."""

    images: list[str]
    skipped: list[dict]  # folder pools: {"path", "why"} per file left out


def scenario_pool(index, split: ScenarioSplit, cls: str, spec: str, pool: str) -> StylePool:
    """same_class: the scenario's training images of ``cls``; all_classes: of every class."""
    if spec == "same_class":
        return StylePool(sorted(training_list(index, split, cls, pool)), [])
    return StylePool(decoder_list(index, split, pool), [])


def folder_pool(spec: str, min_side: int) -> StylePool:
    """Every image file under PATH that decodes and whose shorter side is >= ``min_side``."""
    folder = Path(spec[len("folder=") :]).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"augment.style_pool={spec}: {folder} is not a folder")
    images, skipped = [], []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        img = read_image(path, "skip")
        if img is None:
            skipped.append({"path": str(path), "why": "unreadable"})
        elif min(img.size) < int(min_side):
            skipped.append({"path": str(path), "why": f"smaller than {min_side} px ({img.size})"})
        else:
            images.append(str(path.resolve()))
    if skipped:
        log.warning(
            "style pool %s: %d images skipped (%d unreadable, %d too small), %d used",
            folder, len(skipped), sum(s["why"] == "unreadable" for s in skipped),
            sum(s["why"] != "unreadable" for s in skipped), len(images),
        )  # fmt: skip
    if not images:
        raise ValueError(f"augment.style_pool={spec}: no usable image (skipped: {skipped[:3]})")
    return StylePool(images, skipped)


# --- per-image random choices -------------------------------------------------------------------


def image_rng(style_seed: int, slot: str, source: str, view: int) -> np.random.Generator:
    """The generator of one image's random choices: a function of what the image is, only."""
    return np.random.default_rng(
        [int(style_seed), zlib.crc32(slot.encode()), zlib.crc32(source.encode()), int(view)]
    )


def draw_style(rng: np.random.Generator, images: list[str], source: str) -> str:
    """A style image from the pool, never the source itself (unless it is the only one)."""
    if len(images) > 1 and source in images:
        k = int(rng.integers(len(images) - 1))
        return images[k + (k >= images.index(source))]
    return images[int(rng.integers(len(images)))]


def image_alpha(family: str, alpha: float, rng: np.random.Generator) -> float:
    """randomized: alpha_i ~ U(0, alpha) (drawn after the style); every other family: alpha."""
    return float(alpha * rng.random()) if family == "randomized" else float(alpha)


def family_settings(a) -> dict:
    """What, beyond the augment node's older keys, decides a family's images (its settings id).
    Empty for the paper's johnson at alpha 1, so that set keeps the identity it always had."""
    family, alpha = check_family(a.family), check_alpha(a.alpha)
    if family == "johnson" and alpha == 1.0:
        return {}
    out = {"family": family, "alpha": alpha}
    if family == "johnson_cross" or family in POOL_FAMILIES:
        out["style_seed"] = int(a.style_seed)
    if family in POOL_FAMILIES:
        out["style_pool"] = str(a.style_pool)
        if str(a.style_pool).startswith("folder="):
            out["min_style_side"] = int(a.min_style_side)
    if family == "fda":
        out["fda_beta"] = float(a.fda_beta)
    if family == "photoreal":
        settings = OmegaConf.to_container(a.photoreal, resolve=True)
        out["photoreal"] = {k: v for k, v in settings.items() if k != "max_per_class"}
    return out


# augment.* keys read only through family_settings (kept out of the base settings id)
FAMILY_KEYS = (
    "family",
    "families",
    "alpha",
    "alphas",
    "style_pool",
    "style_seed",
    "min_style_side",
    "photoreal",
    "fda_beta",
)

__all__ = [
    "DEFAULT_POOL",
    "STYLE_FAMILIES",
    "TRANSFORM_FAMILIES",
    "FAMILY_KEYS",
    "Maker",
    "Slot",
    "StylePool",
    "check_family",
    "family_settings",
    "slot_for",
]
