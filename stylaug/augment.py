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

Generation is Lightning ``trainer.predict``: DataLoader workers decode, the module stylizes and
scores, and a prediction-writer callback encodes and writes on a small thread pool, off the
critical path. Each image is written to a temp name and renamed, then its manifest line is
appended, so a rerun (after a crash or SIGKILL) keeps exactly the images that have both, drops
orphans, and makes the rest. With several devices Lightning's predict sampler gives each rank
disjoint images: written once.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from stylaug.data.dataset import ImageFiles, SquareView, collate_images, square_tensor
from stylaug.data.images import check_on_bad_image, load_rgb, read_image
from stylaug.data.index import DatasetIndex, load_index
from stylaug.data.pools import check_pool, checkpoint_path, list_id, train_command, training_list
from stylaug.data.scenarios import apply_view, sample_scenario
from stylaug.data.visual import data_notes, write_grid
from stylaug.identity import digest, node_settings
from stylaug.io import atomic_write_json
from stylaug.manifest import FORMATS, MANIFEST, ManifestWriter, quality_of, reconcile
from stylaug.models.loss_net import LossNetwork
from stylaug.models.stylizer import load_stylizer, stylizer_hash
from stylaug.models.stylizing_predictor import StyleScorer, StylizingPredictor
from stylaug.runtime import finish_logger, make_logger, make_trainer

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


def plan_jobs(index: DatasetIndex, cfg: DictConfig) -> Plan:
    """Per class, the (stylizer, source, view) triples every configured scenario and seed needs."""
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
    needed: dict[tuple[str, str], set] = {}
    scenarios = scenario_configs(cfg)
    for seed in seeds:
        for scenario in scenarios:
            split = sample_scenario(index, scenario, seed)
            for cls in classes:
                if not split.augment[cls]:
                    continue
                sid = list_id(index, training_list(index, split, cls, pool))
                needed.setdefault((cls, sid), set()).add((scenario.name, seed))
                wanted[cls].update(dict.fromkeys((sid, s, v) for s, v in split.augment[cls]))
    jobs = {}
    for cls in classes:
        chosen = list(wanted[cls])
        if a.max_per_class is not None and len(chosen) > a.max_per_class:
            log.warning(
                "class %s: the scenarios need %d stylized images; augment.max_per_class=%d keeps "
                "the first %d, so classify will miss some",
                cls, len(chosen), a.max_per_class, a.max_per_class,
            )  # fmt: skip
            chosen = chosen[: a.max_per_class]
        jobs[cls] = []
        for sid, source, view in chosen:
            fmt = output_format(source, a.format)
            jobs[cls].append(
                Job(cls, sid, source, view, fmt, output_name(cls, sid, source, view, fmt))
            )
    return Plan(jobs, needed)


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
    used = [key for key in plan.needed if plan.jobs.get(key[0])]
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
        }
    return stylizers


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
    """What else (beyond the stylizer) determines an output file; a change regenerates it."""
    a = node_settings(cfg.augment, RESULT_FREE_KEYS)
    return digest([a, image_size, bool(preserve)], 12)


# --- the stage -----------------------------------------------------------------------------------


def augment(cfg: DictConfig) -> dict:
    """Stylize every planned (stylizer, source, view) not already done; return the run summary."""
    a = cfg.augment
    check_on_bad_image(cfg.data.on_bad_image)
    index = load_index(cfg.dataset)
    plan = plan_jobs(index, cfg)
    stylizers = load_stylizers(cfg, index, plan)
    image_size = int(a.image_size or cfg.dataset.image_size)
    out_dir = Path(a.out_dir)
    extra = {
        sid: {
            "stylizer": s["hash"],
            "pool": s["pool"],
            "settings": settings_id(cfg, image_size, s["preserve_color"]),
            "loss_net_weights": s["loss_net_weights"],
            "preserve_color": s["preserve_color"],
            "dataset": index.name,
        }
        for sid, s in stylizers.items()
    }
    wanted = {sid: {**e, "class": stylizers[sid]["class"]} for sid, e in extra.items()}
    done = reconcile(out_dir, wanted)
    planned = [j for cls_jobs in plan.jobs.values() for j in cls_jobs]
    jobs = [j for j in planned if j.output not in done]
    log.info(
        "augment %s/%s: %d images planned (%s) from %d stylizers (pool=%s), %d already done, "
        "%d to make",
        index.name, a.tag, len(planned), ", ".join(f"{c}={len(v)}" for c, v in plan.jobs.items()),
        len(stylizers), cfg.stylizer.pool, len(planned) - len(jobs), len(jobs),
    )  # fmt: skip
    logger = make_logger(
        cfg, name=f"augment-{index.name}-{a.tag}", group=f"augment-{index.name}", job_type="augment"
    )
    try:
        start = time.perf_counter()
        if jobs and not run_predict(cfg, jobs, stylizers, extra, index, image_size, out_dir):
            return {}  # a non-zero rank of a multi-process run: rank 0 writes the summary
        rows = reconcile(out_dir, wanted)  # also tidies up after a failed write
        summary = summarize(plan, jobs, rows, time.perf_counter() - start, out_dir)
        write_info(out_dir, index, a, image_size, stylizers, plan, rows, summary)
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


def run_predict(cfg, jobs, stylizers, extra, index, image_size, out_dir) -> bool:
    """Stylize ``jobs`` with ``trainer.predict``; True in the process that should summarise."""
    a = cfg.augment
    order = list(stylizers)
    position = {sid: k for k, sid in enumerate(order)}
    sources = ImageFiles(
        [index.abspath(j.source) for j in jobs],
        SquareView(image_size),
        labels=[position[j.stylizer] for j in jobs],
        keys=[j.view for j in jobs],
        on_bad_image=cfg.data.on_bad_image,
    )
    workers = int(cfg.data.num_workers)
    loader = torch.utils.data.DataLoader(
        sources,
        batch_size=int(a.batch_size),
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_images,
        pin_memory=cfg.trainer.accelerator == "gpu",
        prefetch_factor=4 if workers else None,
    )
    module = StylizingPredictor(
        [stylizers[sid]["net"] for sid in order],
        [stylizers[sid]["preserve_color"] for sid in order],
        style_scorer(cfg, stylizers, order) if a.score else None,
        bool(a.channels_last),
    )
    writer = ManifestWriter(jobs, out_dir, a.jpeg_quality, extra, a.write_threads)
    overrides = {"enable_progress_bar": False, "enable_model_summary": False}
    trainer = make_trainer(cfg, "augment", False, [writer], **overrides)
    if len(jobs) < trainer.world_size:  # Lightning needs >= 1 image per rank; not worth spawning
        trainer = make_trainer(
            cfg, "augment", False, [writer], devices=1, strategy="auto", **overrides
        )
    trainer.predict(module, dataloaders=loader, return_predictions=False)
    return trainer.is_global_zero


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


def write_info(out_dir, index, a, image_size, stylizers, plan, rows, summary) -> None:
    quality = quality_by_class(plan, rows)
    weights = {s["loss_net_weights"] for s in stylizers.values()}
    atomic_write_json(
        out_dir / "info.json",
        {
            "dataset": index.name,
            "tag": a.tag,
            "notes": data_notes(index.name, *weights),
            "image_size": image_size,
            "format": a.format,
            "stylizers": {
                sid: {k: v for k, v in s.items() if k not in ("net", "meta")}
                for sid, s in stylizers.items()
            },
            "counts": {c: sum(1 for r in rows.values() if r["class"] == c) for c in plan.jobs},
            "quality": quality,
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
    for note in data_notes(index.name, *weights):
        log.info(note)


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


@hydra.main(version_base="1.3", config_path="../conf", config_name="augment")
def main(cfg: DictConfig) -> None:
    augment(cfg)


if __name__ == "__main__":
    main()
