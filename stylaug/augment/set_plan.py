"""What a stylized set needs before any work: per class, the (slot, source, view) of every image
the configured scenarios and seeds ask for, what makes each slot, and each image's style."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from stylaug.artifacts.manifest import FORMATS
from stylaug.artifacts.style_families import (
    POOL_FAMILIES,
    Slot,
    StylePool,
    draw_style,
    folder_pool,
    image_alpha,
    image_rng,
    scenario_pool,
    slot_for,
)
from stylaug.artifacts.training_lists import check_pool
from stylaug.core.config import CONFIG_DIR
from stylaug.data.index import DatasetIndex
from stylaug.data.scenarios import sample_scenario

log = logging.getLogger(__name__)

JPEG_SUFFIXES = (".jpg", ".jpeg")


@dataclass(frozen=True)
class ImageJob:
    cls: str
    stylizer: str  # list id of the stylizer that makes it
    source: str  # relative to the dataset root, as in DatasetIndex.paths / ScenarioSplit.augment
    view: int
    format: str  # png | jpeg
    output: str  # relative to the tag folder
    style: str | None = None  # pool families: the image's style image (absolute path)
    alpha: float | None = None  # the image's strength (randomized: drawn per image)


# --- what to stylize -----------------------------------------------------------------------------


def scenario_configs(cfg: DictConfig) -> list[DictConfig]:
    """Each of ``augment.scenarios`` composed from conf/scenario/<name>.yaml at the dataset's scale
    (the command's own ``scenario`` group, with its overrides, when the names match)."""
    out = []
    for name in cfg.augment.scenarios:
        if cfg.get("scenario") is not None and cfg.scenario.name == name:
            out.append(cfg.scenario)
            continue
        path = Path(CONFIG_DIR) / "scenario" / f"{name}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in (Path(CONFIG_DIR) / "scenario").glob("*.yaml"))
            raise ValueError(f"augment.scenarios names unknown scenario {name!r}; known: {known}")
        scenario = OmegaConf.load(path)
        scenario.scale = float(cfg.dataset.scenario_scale)
        out.append(scenario)
    return out


def output_format(source: str, requested: str) -> str:
    """The source's own format (``source``), or the one ``augment.format`` asks for."""
    if requested == "source":
        return "jpeg" if Path(source).suffix.lower() in JPEG_SUFFIXES else "png"
    if requested not in FORMATS:
        raise ValueError(
            f"augment.format={requested!r} is not valid; use source (each image in its source's "
            f"format), {' or '.join(FORMATS)}"
        )
    return requested


def output_name(cls: str, stylizer: str, source: str, view: int, fmt: str) -> str:
    """A stable, collision-free file name per (stylizer, source, view)."""
    source_digest = hashlib.sha1(source.encode()).hexdigest()[:8]
    return f"{cls}/{stylizer}/{Path(source).stem}-{source_digest}-v{view}.{FORMATS[fmt][1]}"


@dataclass
class SetPlan:
    jobs: dict[str, list[ImageJob]]  # class -> jobs, in order
    needed: dict[tuple[str, str], set]  # (class, stylizer id) -> {(scenario, seed)} it serves
    slots: dict[str, Slot] = field(default_factory=dict)  # slot id (manifest stylizer_id) -> Slot
    decoders: dict[str, set] = field(default_factory=dict)  # decoder id -> {(scenario, seed)}
    pools: dict[str, StylePool] = field(default_factory=dict)  # style list id -> its pool


def plan_jobs(index: DatasetIndex, cfg: DictConfig) -> SetPlan:
    """Per class, the (slot, source, view) triples every configured scenario and seed needs, with
    what makes each slot (``stylaug.artifacts.style_families``) and, for the pool families, each image's style."""
    a = cfg.augment
    pool = check_pool(cfg.stylizer.pool)
    classes = list(index.classes) if a.classes is None else [str(c) for c in a.classes]
    unknown = [c for c in classes if c not in index.classes]
    if unknown or not classes:
        raise ValueError(
            f"augment.classes={classes} has unknown classes {unknown}; dataset {index.name!r} "
            f"has {index.classes}"
        )
    seeds = [int(cfg.seed)] if a.seeds is None else [int(s) for s in a.seeds]
    wanted: dict[str, dict[tuple[str, str, int], None]] = {c: {} for c in classes}
    plan = SetPlan({}, {})
    folder = None
    if a.family in POOL_FAMILIES and str(a.style_pool).startswith("folder="):
        folder = folder_pool(str(a.style_pool), int(a.min_style_side))
    for seed in seeds:
        for scenario in scenario_configs(cfg):
            split = sample_scenario(index, scenario, seed)
            for cls in classes:
                if not split.augment[cls]:
                    continue
                slot = slot_for(index, split, cls, a, pool)
                plan.slots[slot.id] = slot
                serves = (scenario.name, seed)
                if slot.maker.kind == "stylizer":
                    plan.needed.setdefault((slot.maker.cls, slot.maker.id), set()).add(serves)
                elif slot.maker.kind == "decoder":
                    plan.decoders.setdefault(slot.maker.id, set()).add(serves)
                if slot.style_list is not None and slot.style_list not in plan.pools:
                    plan.pools[slot.style_list] = folder or scenario_pool(
                        index, split, cls, str(a.style_pool), pool
                    )
                wanted[cls].update(dict.fromkeys((slot.id, s, v) for s, v in split.augment[cls]))
    cap = min(
        (int(c) for c in (a.max_per_class, a.photoreal.max_per_class if a.family == "photoreal"
                          else None) if c is not None),
        default=None,
    )  # fmt: skip
    for cls in classes:
        chosen = list(wanted[cls])
        if cap is not None and len(chosen) > cap:
            log.warning(
                "class %s: the scenarios need %d stylized images; the cap (augment.max_per_class "
                "or augment.photoreal.max_per_class) keeps the first %d, so classify will miss "
                "some", cls, len(chosen), cap,
            )  # fmt: skip
            chosen = chosen[:cap]
        plan.jobs[cls] = [make_job(index, a, plan, cls, *triple) for triple in chosen]
    return plan


def make_job(index, a, plan: SetPlan, cls: str, slot_id: str, source: str, view: int) -> ImageJob:
    """One image to make: its file name, and its style image and strength, drawn per image."""
    fmt = output_format(source, a.format)
    slot = plan.slots[slot_id]
    rng = image_rng(a.style_seed, slot_id, source, view)
    style = None
    if slot.style_list is not None:
        images = plan.pools[slot.style_list].images
        style = str(index.abspath(draw_style(rng, images, source)))  # absolute stays absolute
    alpha = image_alpha(a.family, float(a.alpha), rng)
    name = output_name(cls, slot_id, source, view, fmt)
    return ImageJob(cls, slot_id, source, view, fmt, name, style, alpha)


# --- what makes them -----------------------------------------------------------------------------
