"""``python -m stylaug.augment``: stylize training images, each with the stylizer that belongs to
its scenario and seed.

Which images: the union, over ``augment.scenarios`` and ``augment.seeds``, of each scenario's
stylization sources (``ScenarioSplit.augment``: always inside that scenario's own training list,
never test images), made by the stylizer of that (scenario, seed, class) - the one trained on that
scenario's training images (``stylizer.pool=scenario``) or on the class's pool (``pool=class``) -
and de-duplicated by (stylizer, source, view). Output, under ``data/augmented/<dataset>/<tag>/``:
``<class>/<stylizer list id>/<name>.<ext>`` in the source's own format (a JPEG source gives a JPEG:
a format must never tell the classifier which images are stylized; ``augment.format`` overrides),
and ``manifest.jsonl`` with one line per stylized image: ``source`` (as in the dataset index),
``view`` (1 = mirrored before stylizing), ``class``, ``stylizer_id`` (its training list),
``stylizer`` (checkpoint hash), ``pool``, ``format``, ``output`` (relative to the manifest's
folder), and its quality: ``content_score`` (edge correlation with the source) and the Gram
distances of the stylized image and of its source to the style (``stylaug.quality``).
``info.json`` holds the per-class means.

``augment.family`` chooses the style family (``stylaug.families``: johnson, johnson_color,
johnson_cross, adain, randomized, photoreal) and ``augment.alpha`` its strength; ``augment.families``
and ``augment.alphas`` make several sets in one run, one folder (tag) each, and a grid of the same
sources in every set (``family_samples.png`` beside them). Every family draws the same sources and
writes the same manifest, plus ``family``, ``alpha``, per image ``image_alpha`` and (pool
families) ``style_source``, and what it cost: ``gen_seconds`` per image, ``device``, and the
training seconds of the stylizer or decoder (``train_seconds``, ``train_device``).

Generation is Lightning ``trainer.predict``: DataLoader workers decode, the module stylizes and
scores, and a prediction-writer callback encodes and writes on a small thread pool, off the
critical path. Each image is written to a temp name and renamed, then its manifest line is
appended, so a rerun (after a crash or SIGKILL) keeps exactly the images that have both, drops
orphans, and makes the rest. With several devices Lightning's predict sampler gives each rank
disjoint images: written once.
"""

from __future__ import annotations

import collections
import copy
import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from stylaug.data.dataset import ImageFiles, SquareView, collate_images, square_tensor
from stylaug.data.images import check_on_bad_image, load_rgb, read_image
from stylaug.data.index import DatasetIndex, load_index
from stylaug.data.pools import check_pool, checkpoint_path, train_command
from stylaug.data.scenarios import apply_view, sample_scenario
from stylaug.data.visual import data_notes, write_grid
from stylaug.families import (
    DECODER_FAMILIES,
    FAMILY_KEYS,
    POOL_FAMILIES,
    Slot,
    StylePool,
    draw_style,
    family_settings,
    folder_pool,
    image_alpha,
    image_rng,
    scenario_pool,
    sets_to_make,
    slot_for,
)
from stylaug.identity import digest, node_settings
from stylaug.io import atomic_write_json, read_jsonl
from stylaug.manifest import FORMATS, MANIFEST, ManifestWriter, quality_of, reconcile
from stylaug.models.adain import decoder_hash, load_decoder
from stylaug.models.loss_net import LossNetwork
from stylaug.models.stylizer import load_stylizer, stylizer_hash
from stylaug.models.stylizing_predictor import StyleScorer, StylizingPredictor
from stylaug.runtime import finish_logger, make_logger, make_trainer
from stylaug.train_decoder import decoder_command, decoder_path

log = logging.getLogger(__name__)

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
JPEG_SUFFIXES = (".jpg", ".jpeg")
# augment.* keys that cannot change an output image (everything else is part of its settings id)
RESULT_FREE_KEYS = (
    "stylizer_dir",
    "tag",
    "out_dir",
    "scenarios",
    "seeds",
    "classes",
    "max_per_class",
    "batch_size",
    "channels_last",
    "write_threads",
    "score",
)


@dataclass(frozen=True)
class Job:
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
        path = CONF_DIR / "scenario" / f"{name}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in (CONF_DIR / "scenario").glob("*.yaml"))
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
class Plan:
    jobs: dict[str, list[Job]]  # class -> jobs, in order
    needed: dict[tuple[str, str], set]  # (class, stylizer id) -> {(scenario, seed)} it serves
    slots: dict[str, Slot] = field(default_factory=dict)  # slot id (manifest stylizer_id) -> Slot
    decoders: dict[str, set] = field(default_factory=dict)  # decoder id -> {(scenario, seed)}
    pools: dict[str, StylePool] = field(default_factory=dict)  # style list id -> its pool


def plan_jobs(index: DatasetIndex, cfg: DictConfig) -> Plan:
    """Per class, the (slot, source, view) triples every configured scenario and seed needs, with
    what makes each slot (``stylaug.families``) and, for the pool families, each image's style."""
    a = cfg.augment
    pool = check_pool(cfg.stylizer.pool)
    classes = list(a.classes)
    unknown = [c for c in classes if c not in index.classes]
    if unknown or not classes:
        raise ValueError(
            f"augment.classes={classes} has unknown classes {unknown}; dataset {index.name!r} "
            f"has {index.classes}"
        )
    seeds = [int(cfg.seed)] if a.seeds is None else [int(s) for s in a.seeds]
    wanted: dict[str, dict[tuple[str, str, int], None]] = {c: {} for c in classes}
    plan = Plan({}, {})
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


def make_job(index, a, plan: Plan, cls: str, slot_id: str, source: str, view: int) -> Job:
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
    return Job(cls, slot_id, source, view, fmt, name, style, alpha)


def missing_stylizers_error(cfg, index, folder: Path, missing: dict) -> FileNotFoundError:
    by_class: dict[str, set] = collections.defaultdict(set)
    for (cls, _), serves in missing.items():
        by_class[cls].update(serves)
    pool = cfg.stylizer.pool
    command = train_command(index.name, cfg.paths.root, by_class, pool)
    examples = ", ".join(str(checkpoint_path(folder, *k)) for k in list(missing)[:3])
    return FileNotFoundError(
        f"no stylizer checkpoint for {len(missing)} (class, training list) pairs "
        f"(stylizer.pool={pool}), e.g. {examples}. Train them first: {command}"
    )


def load_stylizers(cfg: DictConfig, index: DatasetIndex, plan: Plan) -> dict[str, dict]:
    """Every needed stylizer, by list id, checked before any work: a missing one names the command
    that trains it."""
    folder = Path(cfg.augment.stylizer_dir)
    used = list(dict.fromkeys(
        (m.cls, m.id) for m in used_makers(plan) if m.kind == "stylizer"
    ))  # fmt: skip
    missing = {k: plan.needed[k] for k in used if not checkpoint_path(folder, *k).is_file()}
    if missing:
        raise missing_stylizers_error(cfg, index, folder, missing)
    stylizers = {}
    for cls, sid in used:
        path = checkpoint_path(folder, cls, sid)
        net, meta = load_stylizer(path)
        if meta.get("dataset") != index.name or meta.get("class") != cls:
            raise ValueError(
                f"{path} is the stylizer of class {meta.get('class')!r} on dataset "
                f"{meta.get('dataset')!r}, not of {cls!r} on {index.name!r}; retrain it with "
                f"python -m stylaug.train_stylizer class={cls} dataset={index.name}"
            )
        preserve = cfg.augment.preserve_color
        stylizers[sid] = {
            "net": net,
            "meta": meta,
            "class": cls,
            "path": str(path),
            "hash": stylizer_hash(path),
            "pool": meta.get("pool"),
            "loss_net_weights": meta.get("loss_net_weights", "unknown"),
            "preserve_color": bool(meta.get("preserve_color") if preserve is None else preserve),
            "steps": meta.get("steps"),
            "compute": meta.get("compute"),
        }
    return stylizers


def used_makers(plan: Plan) -> list:
    """The makers (stylizers, decoders) of the slots that have jobs, in job order."""
    slots = {j.stylizer for jobs in plan.jobs.values() for j in jobs}
    return list(dict.fromkeys(plan.slots[s].maker for s in slots if s in plan.slots))


def load_decoders(cfg: DictConfig, index: DatasetIndex, plan: Plan) -> dict[str, dict]:
    """Every AdaIN decoder the jobs need, by list id; a missing one names the command."""
    used = [m.id for m in used_makers(plan) if m.kind == "decoder"]
    folder = Path(cfg.decoder.out_dir)
    missing = {d: plan.decoders[d] for d in used if not decoder_path(folder, d).is_file()}
    if missing:
        command = decoder_command(index.name, cfg.paths.root, missing, cfg.stylizer.pool)
        raise FileNotFoundError(
            f"no AdaIN decoder checkpoint for {len(missing)} scenario training sets, e.g. "
            f"{decoder_path(folder, next(iter(missing)))}. Train them first: {command}"
        )
    decoders = {}
    for did in used:
        path = decoder_path(folder, did)
        net, meta = load_decoder(path)
        if meta.get("dataset") != index.name:
            raise ValueError(f"{path} is a decoder of dataset {meta.get('dataset')!r}")
        decoders[did] = {
            "net": net,
            "meta": meta,
            "path": str(path),
            "hash": decoder_hash(path),
            "pool": meta.get("pool"),
            "loss_net_weights": meta.get("loss_net_weights", "unknown"),
            "compute": meta.get("compute"),
        }
    return decoders


def style_scorer(cfg: DictConfig, stylizers: dict[str, dict], order: list[str]) -> StyleScorer:
    """The stylizers' own loss network and each one's (blended) style target."""
    metas = [stylizers[sid]["meta"] for sid in order]
    kinds = {
        (m.get("loss_net"), "random" if "random" in m.get("loss_net_weights", "") else "imagenet")
        for m in metas
    }
    if len(kinds) != 1:
        raise ValueError(
            f"the stylizers were trained with different loss networks {sorted(map(str, kinds))}; "
            "stylize them in separate augment runs, or set augment.score=false"
        )
    arch, weights = kinds.pop()
    styles = [
        {
            "images": [
                square_tensor(
                    load_rgb(s["path"]), int(m.get("image_size", cfg.stylizer.image_size))
                )
                for s in m.get("style_images", [])
            ],
            "blend": list(m.get("style_blend") or [1.0]),
            "layers": list(m.get("style_layers") or []),
        }
        for m in metas
    ]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # a random-init network is the same network for every image
        loss_net = LossNetwork(sorted({n for s in styles for n in s["layers"]}), arch, weights)
    return StyleScorer.for_styles(loss_net, styles)


# --- resuming ------------------------------------------------------------------------------------


def settings_id(cfg: DictConfig, image_size: int, preserve: bool) -> str:
    """What else (beyond the stylizer) determines an output file; a change regenerates it. The
    family's own keys enter through ``family_settings`` (nothing for the paper's johnson set)."""
    a = node_settings(cfg.augment, RESULT_FREE_KEYS + FAMILY_KEYS)
    extra = family_settings(cfg.augment)
    return digest([a, image_size, bool(preserve)] + ([extra] if extra else []), 12)


# --- the stage -----------------------------------------------------------------------------------


def augment(cfg: DictConfig) -> dict:
    """Make every set of ``augment.families`` x ``augment.alphas`` (null: the one of
    ``augment.family`` and ``augment.alpha``); return its summary (several sets: per tag, with
    totals, and a grid of the same sources in every set)."""
    sets = [set_config(cfg, family, alpha) for family, alpha in sets_to_make(cfg.augment)]
    if len(sets) == 1:
        return make_set(sets[0])
    folders = [str(c.augment.out_dir) for c in sets]
    if len(set(folders)) != len(folders):
        raise ValueError(
            f"augment.families x augment.alphas make {len(sets)} sets but only "
            f"{len(set(folders))} folders (augment.tag={cfg.augment.tag!r} is set by hand?); "
            "leave augment.tag at its default so each set gets its own folder"
        )
    summaries = {c.augment.tag: make_set(c) for c in sets}
    grid = write_family_grid(load_index(cfg.dataset), sets)
    totals = {k: sum(v.get(k, 0) for v in summaries.values()) for k in ("planned", "written",
                                                                        "skipped", "failed")}  # fmt: skip
    return {**totals, "sets": summaries, "family_samples": str(grid) if grid else None}


def set_config(cfg: DictConfig, family: str, alpha: float) -> DictConfig:
    """``cfg`` for one (family, alpha) set; its tag and folder follow (interpolations)."""
    out = copy.deepcopy(cfg)
    out.augment.family, out.augment.alpha = family, float(alpha)
    out.augment.families = out.augment.alphas = None
    return out


def make_set(cfg: DictConfig) -> dict:
    """Stylize every planned (slot, source, view) of one set not already done; its summary."""
    a = cfg.augment
    check_on_bad_image(cfg.data.on_bad_image)
    index = load_index(cfg.dataset)
    plan = plan_jobs(index, cfg)
    makers = {
        "stylizer": load_stylizers(cfg, index, plan),
        "decoder": load_decoders(cfg, index, plan),
    }
    image_size = int(a.image_size or cfg.dataset.image_size)
    out_dir = Path(a.out_dir)
    extra = slot_extras(cfg, index, plan, makers, image_size)
    wanted = {sid: {**e, "class": plan.slots[sid].cls} for sid, e in extra.items()}
    done = reconcile(out_dir, wanted)
    planned = [j for cls_jobs in plan.jobs.values() for j in cls_jobs]
    jobs = [j for j in planned if j.output not in done]
    n_makers = sum(len(m) for m in makers.values())
    log.info(
        "augment %s/%s (family %s, alpha %g): %d images planned (%s) from %d networks "
        "(pool=%s), %d already done, %d to make",
        index.name, a.tag, a.family, a.alpha, len(planned),
        ", ".join(f"{c}={len(v)}" for c, v in plan.jobs.items()), n_makers, cfg.stylizer.pool,
        len(planned) - len(jobs), len(jobs),
    )  # fmt: skip
    logger = make_logger(
        cfg, name=f"augment-{index.name}-{a.tag}", group=f"augment-{index.name}", job_type="augment"
    )
    try:
        start = time.perf_counter()
        if jobs and not run_predict(cfg, jobs, plan, makers, extra, index, image_size, out_dir):
            return {}  # a non-zero rank of a multi-process run: rank 0 writes the summary
        rows = reconcile(out_dir, wanted)  # also tidies up after a failed write
        summary = summarize(plan, jobs, rows, time.perf_counter() - start, out_dir)
        write_info(out_dir, index, a, image_size, makers, plan, rows, summary)
        samples = write_samples(index, plan, rows, out_dir, a.tag)
        log.info(
            "augment done: %d written, %d skipped (already done), %d failed, %.1f images/s -> %s",
            summary["written"], summary["skipped"], summary["failed"], summary["images_per_s"],
            out_dir / MANIFEST,
        )  # fmt: skip
        if logger:
            logger.log_metrics({f"augment/{k}": v for k, v in summary.items() if k != "out_dir"})
            if samples is not None and hasattr(logger, "log_image"):
                logger.log_image(key="augment/samples", images=[Image.open(samples)])
    finally:
        finish_logger(logger)
    return summary


def slot_extras(cfg, index, plan: Plan, makers: dict, image_size: int) -> dict[str, dict]:
    """Per slot, the manifest keys that describe what made its images (and what that cost)."""
    a = cfg.augment
    family, plain = a.family, a.family == "johnson" and float(a.alpha) == 1.0
    photoreal_hash = "photoreal:" + digest(family_settings(a))
    extra = {}
    for sid in {j.stylizer for jobs in plan.jobs.values() for j in jobs}:
        slot = plan.slots[sid]
        maker = makers.get(slot.maker.kind, {}).get(slot.maker.id, {})
        preserve = family == "johnson_color" or (
            slot.maker.kind == "stylizer" and maker["preserve_color"]
        )
        compute = maker.get("compute") or {}
        e = {
            "stylizer": maker.get("hash", photoreal_hash),
            "pool": maker.get("pool", cfg.stylizer.pool),
            "settings": settings_id(cfg, image_size, preserve),
            "loss_net_weights": maker.get("loss_net_weights", cfg.model.loss_net.weights),
            "preserve_color": preserve,
            "dataset": index.name,
            "train_seconds": compute.get("train_seconds", 0.0 if not maker else None),
            "train_device": (compute.get("device") or {}).get("kind"),
        }
        if not plain:
            e.update(family=family, alpha=float(a.alpha))
        if family == "johnson_cross":
            e["style_class"] = slot.maker.cls
        if family == "johnson_cross" or slot.style_list is not None:
            e["style_seed"] = int(a.style_seed)
        if slot.maker.kind == "decoder":
            e["decoder_id"] = slot.maker.id
        if slot.style_list is not None:
            e["style_pool"] = str(a.style_pool)
        if family == "photoreal":
            e["loss_net_weights"] = photoreal_weights(cfg)
        extra[sid] = e
    return extra


def photoreal_weights(cfg) -> str:
    """How the photoreal family's networks are described (loss network and segmenter)."""
    p = cfg.augment.photoreal
    seg = f", segmenter {p.seg_arch}:{p.seg_weights}" if float(p.seg_weight) else ""
    return f"{cfg.model.loss_net.arch}:{cfg.model.loss_net.weights}{seg}"


def run_predict(cfg, jobs, plan, makers, extra, index, image_size, out_dir) -> bool:
    """Stylize ``jobs`` with ``trainer.predict``; True in the process that should summarise."""
    a = cfg.augment
    if a.family in DECODER_FAMILIES or a.family == "photoreal":
        from stylaug.family_generation import pair_generation

        items, module, overrides = pair_generation(cfg, jobs, plan, makers, index, image_size)
    else:
        items, module = johnson_generation(cfg, jobs, plan, makers["stylizer"], index, image_size)
        overrides = {}
    workers = int(cfg.data.num_workers)
    loader = torch.utils.data.DataLoader(
        items,
        batch_size=int(a.batch_size),
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_images,
        pin_memory=cfg.trainer.accelerator == "gpu",
        prefetch_factor=4 if workers else None,
    )
    writer = ManifestWriter(jobs, out_dir, a.jpeg_quality, extra, a.write_threads)
    overrides.update(enable_progress_bar=False, enable_model_summary=False)
    trainer = make_trainer(cfg, "augment", False, [writer], **overrides)
    if len(jobs) < trainer.world_size:  # Lightning needs >= 1 image per rank; not worth spawning
        trainer = make_trainer(
            cfg, "augment", False, [writer], devices=1, strategy="auto", **overrides
        )
    trainer.predict(module, dataloaders=loader, return_predictions=False)
    return trainer.is_global_zero


def johnson_generation(cfg, jobs, plan: Plan, stylizers: dict, index, image_size):
    """The Johnson families: each image through its slot's stylizer (johnson_cross: another
    class's), colour-preserved for johnson_color, blended with the source by alpha."""
    a = cfg.augment
    order = list(stylizers)
    position = {sid: k for k, sid in enumerate(order)}
    sources = ImageFiles(
        [index.abspath(j.source) for j in jobs],
        SquareView(image_size),
        labels=[position[plan.slots[j.stylizer].maker.id] for j in jobs],
        keys=[j.view for j in jobs],
        on_bad_image=cfg.data.on_bad_image,
    )
    color = a.family == "johnson_color"
    module = StylizingPredictor(
        [stylizers[sid]["net"] for sid in order],
        [color or stylizers[sid]["preserve_color"] for sid in order],
        style_scorer(cfg, stylizers, order) if a.score else None,
        bool(a.channels_last),
        alpha=float(a.alpha),
    )
    return sources, module


def summarize(plan: Plan, jobs: list[Job], rows: dict, seconds: float, out_dir: Path) -> dict:
    planned = [j for v in plan.jobs.values() for j in v]
    made = {r["output"] for r in rows.values()}
    written = sum(j.output in made for j in jobs)
    return {
        "planned": len(planned),
        "written": written,
        "skipped": len(planned) - len(jobs),
        "failed": sum(j.output not in made for j in planned),
        "seconds": round(seconds, 3),
        "images_per_s": round(written / seconds, 2) if written and seconds > 0 else 0.0,
        "out_dir": str(out_dir),
    }


def quality_by_class(plan: Plan, rows: dict) -> dict:
    """Per class and for the whole set: the content score and Gram-distance ratio."""
    outputs = {j.output: j.cls for v in plan.jobs.values() for j in v}
    groups: dict[str, list[dict]] = collections.defaultdict(list)
    for r in rows.values():
        if r["output"] in outputs:
            groups[outputs[r["output"]]].append(r)
            groups["all"].append(r)
    return {cls: quality_of(rs) for cls, rs in groups.items()}


def write_info(out_dir, index, a, image_size, makers, plan, rows, summary) -> None:
    quality = quality_by_class(plan, rows)
    used = {k: v for kind in makers.values() for k, v in kind.items()}
    weights = {s["loss_net_weights"] for s in used.values()}
    folder = str(a.style_pool) if str(a.style_pool).startswith("folder=") else None
    pools = {  # a folder pool once; scenario pools per style list
        folder or key: {"images": len(p.images), "skipped": p.skipped}
        for key, p in plan.pools.items()
    }
    atomic_write_json(
        out_dir / "info.json",
        {
            "dataset": index.name,
            "tag": a.tag,
            "family": a.family,
            "alpha": float(a.alpha),
            "notes": data_notes(index.name, *weights),
            "image_size": image_size,
            "format": a.format,
            "stylizers": {
                sid: {k: v for k, v in s.items() if k not in ("net", "meta")}
                for sid, s in used.items()
            },
            "style_pools": pools or None,
            "counts": {c: sum(1 for r in rows.values() if r["class"] == c) for c in plan.jobs},
            "quality": quality,
            "compute": set_compute(rows),
            "last_run": summary,
        },
    )
    for cls, q in quality.items():
        if q["content_score"] is not None:
            log.info(
                "quality %s: content score (edge correlation) %.3f, Gram distance to the style "
                "%.3f x the sources' (%d images)",
                cls, q["content_score"], q["gram_ratio"] or 0, q["images"],
            )  # fmt: skip
    skipped = sum(len(p.skipped) for p in plan.pools.values())
    if skipped:
        log.warning("style pool: %d images skipped (unreadable or too small; info.json)", skipped)
    for note in data_notes(index.name, *weights):
        log.info(note)


def set_compute(rows: dict) -> dict:
    """What the set on disk cost: generation seconds (summed over images) and the training
    seconds of every distinct stylizer or decoder that made it, with the devices."""
    generation = sum(float(r.get("gen_seconds") or 0.0) for r in rows.values())
    training = {}
    for r in rows.values():
        training.setdefault(r["stylizer"], r.get("train_seconds"))
    known = [t for t in training.values() if t is not None]
    return {
        "generation_seconds": round(generation, 3),
        "training_seconds": round(sum(known), 3) if len(known) == len(training) else None,
        "devices": sorted({str(r.get("device")) for r in rows.values() if r.get("device")}),
        "train_devices": sorted(
            {str(r["train_device"]) for r in rows.values() if r.get("train_device")}
        ),  # fmt: skip
        "images": len(rows),
    }


def write_samples(index, plan: Plan, rows, out_dir: Path, tag: str, per_class: int = 6):
    """source | stylized rows per class, from what is on disk."""
    by_output = {r["output"]: r for r in rows.values()}
    grid_rows = []
    for cls, jobs in plan.jobs.items():
        done = [by_output[j.output] for j in jobs if j.output in by_output][:per_class]
        pairs = [(read_image(index.abspath(r["source"]), "skip"), r) for r in done]
        pairs = [(apply_view(im, r["view"]), r) for im, r in pairs if im is not None]  # rows align
        if pairs:
            grid_rows += [
                (f"{cls}", [im for im, _ in pairs]),
                ("  stylized", [Image.open(out_dir / r["output"]) for _, r in pairs]),
            ]
    if not grid_rows:
        return None
    return write_grid(
        grid_rows, out_dir / "samples.png", f"augmented set {index.name}/{tag}", index.name
    )


def write_family_grid(index, sets: list[DictConfig], per_class: int = 2):
    """The same sources in every set made by this run, one row per set (``family_samples.png``
    beside the sets): what each family and strength does to the same image."""
    manifests = {c.augment.tag: read_jsonl(Path(c.augment.out_dir) / MANIFEST) for c in sets}
    keyed = {
        tag: {(r["class"], r["source"], int(r["view"])): r for r in rows}
        for tag, rows in manifests.items()
    }
    common = set.intersection(*(set(k) for k in keyed.values())) if keyed else set()
    chosen = []
    for cls in index.classes:
        chosen += sorted(k for k in common if k[0] == cls)[:per_class]
    if not chosen:
        return None
    first = sets[0].augment
    sources = [apply_view(load_rgb(index.abspath(src)), view) for _, src, view in chosen]
    rows = [("source", sources)] + [
        (tag, [Image.open(Path(c.augment.out_dir) / keyed[tag][k]["output"]) for k in chosen])
        for tag, c in zip(keyed, sets, strict=True)
    ]
    path = Path(first.out_dir).parent / "family_samples.png"
    title = (
        f"style families on the same sources ({', '.join(c for c, _, _ in chosen[::per_class])})"
    )
    return write_grid(rows, path, title, index.name, label_width=150)


@hydra.main(version_base="1.3", config_path="../conf", config_name="augment")
def main(cfg: DictConfig) -> None:
    augment(cfg)


if __name__ == "__main__":
    main()
