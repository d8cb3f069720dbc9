"""The classifier's arms: what each adds to the scenario's real training images.

* ``none`` - the real images only;
* a style arm (``style``, or any name in ``classifier.style_sources``) - plus the scenario's
  stylized images, each made by the stylizer of this (scenario, seed, class), looked up by
  (stylizer, source, view) in that folder's ``manifest.jsonl``;
* ``flip_crop_jitter`` / ``randaugment`` - traditional augmentation of the real images;
* a style family (``johnson``, ``johnson_color``, ``johnson_cross``, ``adain``, ``randomized``,
  ``photoreal``; ``stylaug.artifacts.style_families``) - plus the scenario's images of that family's set at
  ``augment.alpha`` and ``augment.style_pool``; the arm is named after the set (its tag, e.g.
  ``adain_a0.5``), so a multirun over ``augment.alpha`` gives one row per strength;
* ``<traditional>+<style arm>`` (e.g. ``randaugment+adain``) - the traditional augmentation of the
  real images, plus the style arm's stylized images (as they are).

Every style arm adds exactly the scenario's stylized count (``ScenarioSplit.augment``), each image
found in the manifest by the slot its family gives that (scenario, seed, class).

**Matched controls** (``classifier.controls=true``, the default) run beside the arms they control,
so a style arm's effect can be told apart from "more images, more steps, another class prior":

* ``unstylized`` - the scenario's stylization sources added as they are (same images and views,
  mirrored where the view is 1): the same count, class prior and steps as every style arm of the
  scenario, only the stylization missing. Every family stylizes the same slots, so one
  ``unstylized`` per (scenario, seed) controls them all (``<traditional>+unstylized`` controls
  ``<traditional>+<style arm>``).
* ``reweighted`` - ``none`` with a class-balanced loss (weights n / (C n_c)): the standard answer to
  imbalance, for scenarios with a minority class.
* ``<arm>_random_drop`` - for a quality-filtered arm, the same style set with the same number of
  images per class dropped at random instead of by content score.

**Online arms** (``stylaug.classify.finetune``) add no image: ``online_<family>`` (adain, randomized,
johnson, fda, histogram_match) stylizes each training batch with ``StyleAugment`` and ``mixstyle``
mixes feature statistics inside the backbone. Their matched control is ``none`` trained the same
way (same images, epochs and steps, the style step off), added when it is not listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from torchvision import transforms as T

from stylaug.artifacts.checkpoints import checkpoint_path, train_command
from stylaug.artifacts.dataset_names import dataset_override, index_dataset_override
from stylaug.artifacts.manifest import MANIFEST, damaged, quality_of
from stylaug.artifacts.results import TRADITIONAL_ARMS
from stylaug.artifacts.style_families import STYLE_FAMILIES, set_tag, slot_for
from stylaug.artifacts.training_lists import check_pool, list_id, training_list
from stylaug.core.commands import command_line
from stylaug.core.io import read_jsonl
from stylaug.data.scenarios import ScenarioSplit
from stylaug.models.backbone import Backbone
from stylaug.transforms import FAMILIES as ONLINE_FAMILIES

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
    "image_alpha",
    "style_source",
    "gen_seconds",
    "sha256",
    "device",
    "train_seconds",  # what the set cost: in StyleSet.compute, not in its identity
    "train_device",
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


UNSTYLIZED, REWEIGHTED, RANDOM_DROP = "unstylized", "reweighted", "random_drop"
# online arm -> what runs in the training step (a StyleAugment family, or MixStyle)
ONLINE_ARMS = {**{f"online_{f}": f for f in ONLINE_FAMILIES}, "mixstyle": "mixstyle"}


@dataclass(frozen=True)
class ArmSpec:
    traditional: str | None  # flip_crop_jitter | randaugment
    folder: Path | None  # the style set's folder (holds manifest.jsonl)
    family: str | None = None  # a family arm: the family it was named by
    control: str | None = None  # unstylized | reweighted | random_drop (of ``controls``)
    controls: str | None = None  # random_drop: the filtered arm whose drop it matches


def traditional_part(arm: str) -> str | None:
    """The traditional augmentation an arm applies to the real images (a combined arm's first)."""
    first = arm.split("+", 1)[0]
    return first if first in TRADITIONAL_ARMS else None


def family_folder(cfg: DictConfig, tag: str) -> Path:
    return Path(cfg.paths.data_dir) / "augmented" / cfg.dataset.name / tag


def style_arm(cfg: DictConfig, name: str) -> tuple[str, ArmSpec] | None:
    """A style part of an arm: a ``style_sources`` name, or a family (named after its set)."""
    sources = cfg.classifier.style_sources
    if name in sources:
        return name, ArmSpec(None, Path(sources[name]))
    if name in STYLE_FAMILIES:
        a = cfg.augment
        tag = set_tag(name, a.alpha, a.style_pool)
        return tag, ArmSpec(None, family_folder(cfg, tag), name)
    return None


def arm_specs(cfg: DictConfig, minority: list[str]) -> dict[str, ArmSpec]:
    """``classifier.arms`` resolved: result-row arm name -> what the arm adds. ``minority``: the
    sampled split's minority classes (``ScenarioSplit.minority``); they decide ``reweighted``."""
    arms = list(cfg.classifier.arms)
    specs, bad = {}, []
    for arm in arms:
        trad, _, style = arm.partition("+") if "+" in arm else (None, "", arm)
        if arm == "none":
            specs[arm] = ArmSpec(None, None)
        elif arm in TRADITIONAL_ARMS:
            specs[arm] = ArmSpec(arm, None)
        elif arm in ONLINE_ARMS:
            specs[arm] = ArmSpec(None, None)
        elif (trad is None or trad in TRADITIONAL_ARMS) and (found := style_arm(cfg, style)):
            name, spec = found
            specs[f"{trad}+{name}" if trad else name] = ArmSpec(trad, spec.folder, spec.family)
        else:
            bad.append(arm)
    known = ["none", *cfg.classifier.style_sources, *TRADITIONAL_ARMS, *STYLE_FAMILIES,
             *ONLINE_ARMS]  # fmt: skip
    if bad or not arms or len(set(arms)) != len(arms) or len(specs) != len(arms):
        raise ValueError(
            f"classifier.arms={arms} is not valid: unknown {bad}, or empty/repeated. Known arms: "
            f"{known} and <traditional>+<style arm> (e.g. randaugment+adain); add style variants "
            "as classifier.style_sources.<name>=<folder with manifest.jsonl>. The controls "
            f"({UNSTYLIZED}, {REWEIGHTED}, <arm>_{RANDOM_DROP}) are added by classifier.controls."
        )
    if cfg.classifier.get("controls", True):
        specs.update(control_specs(cfg, specs, bool(minority)))
    return specs


def control_specs(
    cfg: DictConfig, specs: dict[str, ArmSpec], has_minority: bool
) -> dict[str, ArmSpec]:
    """The matched controls the configured arms need, in a stable order (module docstring)."""
    out: dict[str, ArmSpec] = {}
    if any(arm in ONLINE_ARMS for arm in specs):  # the online arms' control: the style step off
        out["none"] = ArmSpec(None, None)
    for spec in specs.values():
        if spec.folder is not None:
            name = f"{spec.traditional}+{UNSTYLIZED}" if spec.traditional else UNSTYLIZED
            out[name] = ArmSpec(spec.traditional, None, control=UNSTYLIZED)
    if ("none" in specs or "none" in out) and has_minority:
        out[REWEIGHTED] = ArmSpec(None, None, control=REWEIGHTED)
    for arm in cfg.classifier.get("quality_filter") or {}:
        if arm in specs and specs[arm].folder is not None:
            spec = specs[arm]
            out[f"{arm}_{RANDOM_DROP}"] = ArmSpec(
                spec.traditional, spec.folder, spec.family, RANDOM_DROP, arm
            )
    return {k: v for k, v in out.items() if k not in specs}


def check_arms(cfg: DictConfig) -> list[str]:
    """The result-row names of ``classifier.arms`` (family arms named after their set)."""
    return list(arm_specs(cfg))


def augment_command(cfg: DictConfig) -> str:
    """The augment run that makes this (scenario, seed)'s stylized images, with this run's
    overrides (``stylaug.core.commands``)."""
    args = [f"seed={cfg.seed}"]
    if cfg.stylizer.pool != "scenario":
        args.append(f"stylizer.pool={cfg.stylizer.pool}")
    folder = cfg.dataset.get("kind") == "folder"
    dataset = dataset_override(cfg.dataset.name, cfg.dataset.source if folder else None)
    return command_line("augment", args, dataset, cfg.paths.root)


@dataclass
class StyleSet:
    """A style arm's extra training images and what made them."""

    items: list[tuple[Path, str]]  # (stylized file, class)
    stylizers: dict  # class -> {"checkpoints": [...], "weights": ... | "unknown", extra keys}
    fingerprint: list  # what identifies the stylized set in config_hash
    pool: str  # scenario | class: which images the stylizers trained on
    quality: dict  # class -> {content_score, gram_ratio, images}
    family: str | None = "johnson"  # the style family that made the set (None: unstylized)
    alpha: float | None = 1.0  # its strength
    compute: dict = field(default_factory=dict)  # seconds it took (training + generation)
    folder: Path | None = None  # the set's folder (holds manifest.jsonl)
    views: list[int] | None = None  # unstylized sources: each item's view (1 = mirrored)


def unstylized_set(index, split: ScenarioSplit) -> StyleSet:
    """The ``unstylized`` control: every (source, view) the scenario stylizes, added as it is."""
    pairs = [(source, int(view), cls) for cls, ps in split.augment.items() for source, view in ps]
    return StyleSet(
        items=[(index.abspath(source), cls) for source, _, cls in pairs],
        stylizers={},
        fingerprint=[UNSTYLIZED, sorted([source, view] for source, view, _ in pairs)],
        pool=None,
        quality={},
        family=None,
        alpha=None,
        views=[view for _, view, _ in pairs],
    )


def missing_style_error(cfg, index, split, arm, manifest, missing, total) -> FileNotFoundError:
    """Name the command that makes what is missing: augment, or first train_stylizer."""
    pool = cfg.stylizer.pool
    untrained = {}
    for cls in split.augment:
        sid = list_id(index, training_list(index, split, cls, pool))
        if split.augment[cls] and not checkpoint_path(cfg.stylizer.out_dir, cls, sid).is_file():
            untrained[cls] = {(split.scenario, split.seed)}
    first = (
        f"`{train_command(index_dataset_override(index), cfg.paths.root, untrained, pool)}`, then "
        if untrained
        else ""
    )
    where = "does not exist" if not manifest.exists() else "lacks them"
    return FileNotFoundError(
        f"arm {arm!r}: {len(missing)} of the {total} stylized images that scenario "
        f"{split.scenario!r} (seed {split.seed}, stylizer.pool={pool}) needs are missing "
        f"({manifest} {where}; first missing: {missing[0]}). Make them with {first}"
        f"`{augment_command(cfg)}`, point "
        f"classifier.style_sources.{arm} at the right folder, or run classifier.arms=[none]."
    )


def set_family(rows: list[dict]) -> DictConfig:
    """The family settings a set's manifest records (older sets: the paper's johnson)."""
    first = rows[0] if rows else {}
    return OmegaConf.create(
        {
            "family": first.get("family", "johnson"),
            "alpha": float(first.get("alpha", 1.0)),
            "style_seed": int(first.get("style_seed", 0)),
            "style_pool": first.get("style_pool", "same_class"),
        }
    )


def style_set(
    cfg: DictConfig, index, split: ScenarioSplit, arm: str, folder: Path | None = None
) -> StyleSet:
    """Look up exactly the scenario's (source, view) pairs, as stylized for this (scenario, seed,
    class) by the set's family, in the arm's manifest; fail clearly if any is missing."""
    pool = check_pool(cfg.stylizer.pool)
    folder = Path(cfg.classifier.style_sources[arm] if folder is None else folder)
    manifest = folder / MANIFEST
    rows = read_jsonl(manifest)
    family = set_family(rows)
    entries = {(e.get("stylizer_id"), e["source"], int(e["view"])): e for e in rows}
    items, missing, used = [], [], {}
    for cls, pairs in split.augment.items():
        sid = slot_for(index, split, cls, family, pool).id if pairs else None
        for source, view in pairs:
            e = entries.get((sid, source, int(view)))
            if e is None or not (folder / e["output"]).exists():
                missing.append(f"{source} (view {view}, slot {cls}/{sid})")
                continue
            if damaged(folder, e):  # not what augment wrote: made again by augment
                missing.append(f"{folder / e['output']} (damaged: sha256 differs from manifest)")
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
    return StyleSet(
        items, stylizers, [folder.name, pool, sorted(fingerprint)], pool, quality,
        family.family, family.alpha, used_compute([e for es in used.values() for e in es]), folder,
    )  # fmt: skip


def used_compute(rows: list[dict]) -> dict:
    """What the images an arm adds cost: their generation seconds, plus the training seconds of
    every stylizer or decoder that made them (each once, by its hash, so the report can share a
    network's cost among every row that uses it); None where a checkpoint predates it."""
    networks: dict[str, dict] = {}
    for r in rows:
        networks.setdefault(
            str(r.get("stylizer")),
            {"seconds": r.get("train_seconds"), "device": r.get("train_device")},
        )
    known = [n["seconds"] for n in networks.values() if n["seconds"] is not None]
    gen = [r.get("gen_seconds") for r in rows]
    by_device: dict[str, float] = {}
    for r in rows:
        if r.get("gen_seconds") is not None:
            kind = str(r.get("device") or "unknown")
            by_device[kind] = by_device.get(kind, 0.0) + float(r["gen_seconds"])
    return {
        "generation_seconds": sum(gen) if rows and None not in gen else None,
        "generation_by_device": by_device,
        "training_seconds": sum(known) if len(known) == len(networks) else None,
        "networks": networks,
        "makers": len(networks),
        "devices": sorted({str(r["device"]) for r in rows if r.get("device")}),
        "train_devices": sorted({str(r["train_device"]) for r in rows if r.get("train_device")}),
    }
