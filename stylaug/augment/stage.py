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
distances of the stylized image and of its source to the style (``stylaug.models.image_scores``).
``info.json`` holds the per-class means.

``augment.family`` chooses the style family (``stylaug.artifacts.style_families``: johnson, johnson_color,
johnson_cross, adain, randomized, photoreal, fda, histogram_match) and ``augment.alpha`` its strength; ``augment.families``
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

This module is the command: what to stylize (the plan), what makes it (checkpoints, checked before
any work), and the run. Each family's ``trainer.predict`` module is ``stylaug.augment.generation``;
the manifest keys, ``info.json`` and sample grids that describe a set are ``stylaug.augment.set_description``; the
manifest on disk and its writer are ``stylaug.artifacts.manifest``.
"""

from __future__ import annotations

import collections
import copy
import logging
import time
from pathlib import Path

import torch
from omegaconf import DictConfig
from PIL import Image

from stylaug.artifacts.checkpoints import (
    checkpoint_path,
    decoder_command,
    decoder_path,
    train_command,
)
from stylaug.artifacts.dataset_names import index_dataset_override
from stylaug.artifacts.manifest import MANIFEST, reconcile
from stylaug.artifacts.style_families import (
    POOL_FAMILIES,
    sets_to_make,
)
from stylaug.augment.generation import johnson_generation, pair_generation
from stylaug.augment.manifest_writer import ManifestWriter
from stylaug.augment.set_description import (
    slot_extras,
    summarize,
    write_family_grid,
    write_info,
    write_samples,
)
from stylaug.augment.set_plan import SetPlan, plan_jobs
from stylaug.core.interruption import stop_signals
from stylaug.core.runtime import finish_logger, make_logger, make_trainer
from stylaug.core.settings_check import check_settings
from stylaug.data.dataset import collate_images
from stylaug.data.images import check_on_bad_image
from stylaug.data.index import DatasetIndex, load_index
from stylaug.models.adain import decoder_hash, load_decoder
from stylaug.models.stylizer import StylizerCheckpointError, load_stylizer, stylizer_hash

log = logging.getLogger(__name__)


def missing_stylizers_error(cfg, index, folder: Path, missing: dict) -> FileNotFoundError:
    by_class: dict[str, set] = collections.defaultdict(set)
    for (cls, _), serves in missing.items():
        by_class[cls].update(serves)
    pool = cfg.stylizer.pool
    command = train_command(index_dataset_override(index), cfg.paths.root, by_class, pool)
    examples = ", ".join(str(checkpoint_path(folder, *k)) for k in list(missing)[:3])
    return FileNotFoundError(
        f"no stylizer checkpoint for {len(missing)} (class, training list) pairs "
        f"(stylizer.pool={pool}), e.g. {examples}. Train them first: {command}"
    )


def load_stylizers(cfg: DictConfig, index: DatasetIndex, plan: SetPlan) -> dict[str, dict]:
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
        retrain = train_command(index_dataset_override(index), cfg.paths.root, {cls: plan.needed[(cls, sid)]},
                                cfg.stylizer.pool)  # fmt: skip
        try:
            net, meta = load_stylizer(path)
        except StylizerCheckpointError as err:  # damaged: train_stylizer replaces it
            raise StylizerCheckpointError(f"{err} That is: {retrain}") from None
        if meta.get("dataset") != index.name or meta.get("class") != cls:
            raise ValueError(
                f"{path} is the stylizer of class {meta.get('class')!r} on dataset "
                f"{meta.get('dataset')!r}, not of {cls!r} on {index.name!r}; retrain it with "
                f"{retrain}"
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


def used_makers(plan: SetPlan) -> list:
    """The makers (stylizers, decoders) of the slots that have jobs, in job order."""
    slots = {j.stylizer for jobs in plan.jobs.values() for j in jobs}
    return list(dict.fromkeys(plan.slots[s].maker for s in slots if s in plan.slots))


def load_decoders(cfg: DictConfig, index: DatasetIndex, plan: SetPlan) -> dict[str, dict]:
    """Every AdaIN decoder the jobs need, by list id; a missing one names the command."""
    used = [m.id for m in used_makers(plan) if m.kind == "decoder"]
    folder = Path(cfg.decoder.out_dir)
    missing = {d: plan.decoders[d] for d in used if not decoder_path(folder, d).is_file()}
    if missing:
        command = decoder_command(
            index_dataset_override(index), cfg.paths.root, missing, cfg.stylizer.pool
        )
        raise FileNotFoundError(
            f"no AdaIN decoder checkpoint for {len(missing)} scenario training sets, e.g. "
            f"{decoder_path(folder, next(iter(missing)))}. Train them first: {command}"
        )
    decoders = {}
    for did in used:
        path = decoder_path(folder, did)
        try:
            net, meta = load_decoder(path)
        except ValueError as err:  # damaged: train_decoder replaces it
            command = decoder_command(index.name, cfg.paths.root, {did: plan.decoders[did]},
                                      cfg.stylizer.pool)  # fmt: skip
            raise ValueError(f"{err} That is: {command}") from None
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


# --- the stage -----------------------------------------------------------------------------------


def augment(cfg: DictConfig) -> dict:
    """Make every set of ``augment.families`` x ``augment.alphas`` (null: the one of
    ``augment.family`` and ``augment.alpha``); return its summary (several sets: per tag, with
    totals, and a grid of the same sources in every set)."""
    check_settings(cfg)  # every numeric setting in range, before any work
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


def run_predict(cfg, jobs, plan, makers, extra, index, image_size, out_dir) -> bool:
    """Stylize ``jobs`` with ``trainer.predict``; True in the process that should summarise."""
    a = cfg.augment
    if a.family in POOL_FAMILIES:  # each image paired with its own style image
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
    what = f"augment {a.tag} ({len(jobs)} images)"
    overrides.update(enable_model_summary=False, progress=what)
    trainer = make_trainer(cfg, "augment", False, [writer], **overrides)
    if len(jobs) < trainer.world_size:  # Lightning needs >= 1 image per rank; not worth spawning
        trainer = make_trainer(
            cfg, "augment", False, [writer], devices=1, strategy="auto", **overrides
        )
    with stop_signals(what):  # SIGTERM/SIGINT: finished images are kept, exit 143/130
        trainer.predict(module, dataloaders=loader, return_predictions=False)
    return trainer.is_global_zero
