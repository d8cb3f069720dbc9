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
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import hydra
import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from pytorch_lightning.callbacks import BasePredictionWriter
from torch import nn
from tqdm import tqdm

from stylaug.data.grid import image_grid, save_png
from stylaug.data.images import check_on_bad_image, load_rgb, read_image
from stylaug.data.index import DatasetIndex, load_index
from stylaug.data.scenarios import apply_view, sample_scenario
from stylaug.identity import digest, node_settings
from stylaug.io import append_jsonl, atomic_path, atomic_write_json, atomic_write_text, read_jsonl
from stylaug.models.loss_net import LossNetwork, gram_matrix
from stylaug.quality import edge_correlation, gram_distance
from stylaug.runtime import finish_logger, make_logger, make_trainer
from stylaug.stylizer import (
    check_pool,
    checkpoint_path,
    list_id,
    load_stylizer,
    square_tensor,
    stylize_batch,
    stylizer_hash,
    train_command,
    training_list,
)

log = logging.getLogger(__name__)

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
MANIFEST = "manifest.jsonl"
FORMATS = {"png": ("PNG", "png"), "jpeg": ("JPEG", "jpg")}
JPEG_SUFFIXES = (".jpg", ".jpeg")
SCORE_KEYS = ("content_score", "gram_distance", "source_gram_distance")
SYNTHETIC_NOTE = "stylized synthetic procedural data: smoke results only, never paper results"
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


def load_stylizers(cfg: DictConfig, index: DatasetIndex, plan: Plan) -> dict[str, dict]:
    """Every needed stylizer, by list id, checked before any work: a missing one names the command
    that trains it."""
    folder = Path(cfg.augment.stylizer_dir)
    used = {key: serves for key, serves in plan.needed.items() if plan.jobs.get(key[0])}
    missing = {
        key: serves for key, serves in used.items() if not checkpoint_path(folder, *key).is_file()
    }
    if missing:
        by_class: dict[str, set] = {}
        for (cls, _), serves in missing.items():
            by_class.setdefault(cls, set()).update(serves)
        pool = cfg.stylizer.pool
        if pool == "class":
            by_class = {c: {(None, None)} for c in by_class}
        command = train_command(index.name, cfg.paths.root, by_class)
        raise FileNotFoundError(
            f"no stylizer checkpoint for {len(missing)} (class, training list) pairs "
            f"(stylizer.pool={pool}), e.g. "
            + ", ".join(str(checkpoint_path(folder, *k)) for k in list(missing)[:3])
            + f". Train them first: {command}"
            + ("" if pool == "scenario" else " stylizer.pool=class")
        )
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
            "class": cls,
            "path": str(path),
            "hash": stylizer_hash(path),
            "pool": meta.get("pool"),
            "loss_net": meta.get("loss_net"),
            "loss_net_weights": meta.get("loss_net_weights", "unknown"),
            "style_layers": list(meta.get("style_layers") or []),
            "preserve_color": bool(meta.get("preserve_color") if preserve is None else preserve),
            "steps": meta.get("steps"),
        }
        if cfg.augment.score:  # the style target, for the Gram distance of each stylized image
            size = int(meta.get("image_size", cfg.stylizer.image_size))
            stylizers[sid]["style_blend"] = list(meta.get("style_blend") or [1.0])
            stylizers[sid]["style_tensors"] = [
                square_tensor(load_rgb(s["path"]), size) for s in meta.get("style_images", [])
            ]
    return stylizers


# --- resuming ------------------------------------------------------------------------------------


def settings_id(cfg: DictConfig, image_size: int, preserve: bool) -> str:
    """What else (beyond the stylizer) determines an output file; a change regenerates it."""
    a = node_settings(cfg.augment, RESULT_FREE_KEYS)
    return digest([a, image_size, bool(preserve)], 12)


def reconcile(out_dir: Path, wanted: dict[str, dict]) -> dict[str, dict]:
    """Make the manifest and the files agree, for the stylizers in ``wanted`` ({stylizer id:
    {stylizer, settings}}): keep rows whose file exists and whose stylizer and settings are
    current (one per output), delete files without a row (a killed run's orphans and temp files).
    Returns the kept rows by output. Rows of other stylizers are left alone."""
    manifest = out_dir / MANIFEST
    rows = read_jsonl(manifest)
    keep: dict[str, dict] = {}
    for row in rows:
        current = wanted.get(row.get("stylizer_id"))
        if current is not None and (
            row.get("stylizer") != current["stylizer"]
            or row.get("settings") != current["settings"]
            or not (out_dir / row["output"]).is_file()
        ):
            continue
        keep[row["output"]] = row  # a repeated output: the last line wins
    torn = (
        manifest.is_file() and not manifest.read_bytes().endswith(b"\n") and manifest.stat().st_size
    )
    if len(keep) != len(rows) or torn:  # a torn last line (killed mid-append) must go too
        log.info(
            "manifest: dropped %d stale, duplicate or torn lines",
            len(rows) - len(keep) + bool(torn),
        )
        atomic_write_text(
            manifest, "".join(json.dumps(r, sort_keys=True) + "\n" for r in keep.values())
        )
    removed = 0
    for sid, current in wanted.items():
        folder = out_dir / current["class"] / sid
        for f in folder.iterdir() if folder.is_dir() else ():
            if f.is_file() and f"{current['class']}/{sid}/{f.name}" not in keep:
                f.unlink()
                removed += 1
    if removed:
        log.info("removed %d files without a manifest line (from an interrupted run)", removed)
    return keep


# --- the Lightning pieces ------------------------------------------------------------------------


class SourceImages(torch.utils.data.Dataset):
    """Decodes one job's source image (mirrored for view 1) as a [0, 1] square."""

    def __init__(self, jobs: list[Job], root: Path, stylizer_ids: dict, image_size: int, policy):
        self.jobs = jobs
        self.root = Path(root)
        self.stylizer_ids = stylizer_ids
        self.image_size = int(image_size)
        self.policy = policy

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, i: int) -> dict:
        job = self.jobs[i]
        img = read_image(self.root / job.source, self.policy)
        if img is not None:
            img = apply_view(img, job.view)
        image = None if img is None else square_tensor(img, self.image_size)
        return {"i": i, "stylizer": self.stylizer_ids[job.stylizer], "image": image}


def collate_jobs(batch: list[dict]) -> dict:
    good = [b for b in batch if b["image"] is not None]
    return {
        "i": torch.tensor([b["i"] for b in good], dtype=torch.long),
        "stylizer": torch.tensor([b["stylizer"] for b in good], dtype=torch.long),
        "image": torch.stack([b["image"] for b in good]) if good else torch.empty(0, 3, 1, 1),
        "failed": [b["i"] for b in batch if b["image"] is None],
    }


class StyleScorer(nn.Module):
    """Scores stylized images against their sources and their stylizer's style (``quality``)."""

    def __init__(self, loss_net: LossNetwork, grams: list[dict], layers: list[list[str]]):
        super().__init__()
        self.loss_net = loss_net
        self.grams = grams  # per stylizer: {layer: (1, C, C)}
        self.layers = layers

    def forward(self, k: int, source: torch.Tensor, stylized: torch.Tensor) -> torch.Tensor:
        """(N, 3): content score, Gram distance of the stylized image, Gram distance of the source."""
        grams = {name: g.to(source.device) for name, g in self.grams[k].items()}
        layers = self.layers[k]
        return torch.stack(
            [
                edge_correlation(source, stylized),
                gram_distance(self.loss_net(stylized), grams, layers),
                gram_distance(self.loss_net(source), grams, layers),
            ],
            dim=1,
        )


class StylizeModule(pl.LightningModule):
    """All needed stylizers; each image goes through its own (scenario, seed, class)'s network."""

    def __init__(
        self,
        nets: list[nn.Module],
        preserve: list[bool],
        scorer: StyleScorer | None = None,
        channels_last: bool = False,
    ):
        super().__init__()
        self.nets = nn.ModuleList(nets).eval().requires_grad_(False)
        self.preserve = list(preserve)
        self.scorer = scorer
        self.channels_last = channels_last
        if channels_last:
            self.nets.to(memory_format=torch.channels_last)

    def predict_step(self, batch, batch_idx):
        images, which = batch["image"], batch["stylizer"]
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        out = torch.empty(images.shape, dtype=torch.uint8, device=images.device)
        scores = torch.full((len(images), 3), float("nan"), device=images.device)
        for k in which.unique().tolist():
            m = which == k
            y = stylize_batch(self.nets[k], images[m], self.preserve[k])
            out[m] = y.mul(255).round_().to(torch.uint8)
            if self.scorer is not None:
                scores[m] = self.scorer(k, images[m].float(), y)
        return out.cpu(), scores.cpu()  # uint8: 4x less to hand to the writer


def style_scorer(stylizers: dict[str, dict], order: list[str]) -> StyleScorer:
    """One loss network (the stylizers') and each stylizer's blended style Grams."""
    kinds = {
        (s["loss_net"], "random" if "random" in s["loss_net_weights"] else "imagenet")
        for s in stylizers.values()
    }
    if len(kinds) != 1:
        raise ValueError(
            f"the stylizers were trained with different loss networks {sorted(kinds)}; score them in separate augment runs (augment.score=false to skip scoring)"
        )
    arch, weights = kinds.pop()
    layers = [stylizers[sid]["style_layers"] for sid in order]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # a random-init network is the same network for every image
        loss_net = LossNetwork(sorted({n for ls in layers for n in ls}), arch, weights)
    grams = []
    for sid in order:
        s = stylizers[sid]
        with torch.no_grad():
            feats = [loss_net(t[None]) for t in s["style_tensors"]]
        grams.append(
            {
                name: sum(
                    w * gram_matrix(f[name]) for w, f in zip(s["style_blend"], feats, strict=True)
                )
                for name in s["style_layers"]
            }
        )
    return StyleScorer(loss_net, grams, layers)


def write_image(path: Path, array: np.ndarray, fmt: str, quality: int) -> None:
    """Encode and write one image atomically (temp name + rename). PNG at zlib level 1: the same
    pixels for a fraction of level 6's CPU, which would otherwise be taken from the network."""
    options = {"quality": quality} if fmt == "jpeg" else {"compress_level": 1}
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format=FORMATS[fmt][0], **options)


class ManifestWriter(BasePredictionWriter):
    """Encodes and writes each stylized image on a thread pool, then appends its manifest line.

    At most ``max_pending`` images wait in memory, so memory does not grow with the run length.
    """

    def __init__(self, jobs, out_dir, quality, row_extra: dict, threads=2, max_pending=64):
        super().__init__(write_interval="batch")
        self.jobs, self.out_dir, self.quality = jobs, Path(out_dir), int(quality)
        self.row_extra = row_extra  # stylizer id -> extra manifest keys (hash, settings, ...)
        self.threads, self.max_pending = int(threads), int(max_pending)
        self.pool = self.pending = self.bar = None

    def setup(self, trainer, pl_module, stage):
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="augment-writer")
        self.pending = collections.deque()
        self.rank = trainer.global_rank
        self.written = self.failed = 0

    def on_predict_start(self, trainer, pl_module):
        n = sum(1 for _ in range(trainer.global_rank, len(self.jobs), trainer.world_size))
        self.bar = tqdm(
            total=n, unit="img", desc=f"stylizing (rank {trainer.global_rank})", smoothing=0.1
        )

    def write_one(self, i: int, array: np.ndarray, scores: list[float]) -> None:
        job = self.jobs[i]
        write_image(self.out_dir / job.output, array, job.format, self.quality)
        row = {
            "source": job.source,
            "view": job.view,
            "class": job.cls,
            "stylizer_id": job.stylizer,
            "format": job.format,
            "output": job.output,
            **self.row_extra[job.stylizer],
            "rank": self.rank,
        }
        if not np.isnan(scores[0]):
            row.update(zip(SCORE_KEYS, (round(float(v), 6) for v in scores), strict=True))
        append_jsonl(self.out_dir / MANIFEST, row)

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, *args):
        images, scores = prediction
        images = images.permute(0, 2, 3, 1).numpy()
        scores = scores.tolist()
        for k, i in enumerate(batch["i"].tolist()):
            self.pending.append(self.pool.submit(self.write_one, i, images[k], scores[k]))
        for i in batch["failed"]:
            log.warning("could not read %s: not stylized", self.jobs[i].source)
        self.failed += len(batch["failed"])
        while len(self.pending) > self.max_pending:
            self._finish_one()
        self.bar.update(len(batch["i"]) + len(batch["failed"]))

    def _finish_one(self):
        self.pending.popleft().result()  # re-raises a writing error here, in the main thread
        self.written += 1

    def on_predict_end(self, trainer, pl_module):
        while self.pending:
            self._finish_one()
        self.bar.close()
        self.pool.shutdown()
        trainer.strategy.barrier("augment-writer")  # every rank's files and lines are in place
        log.info("rank %d wrote %d images (%d unreadable)", self.rank, self.written, self.failed)


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
    planned_jobs = [j for cls_jobs in plan.jobs.values() for j in cls_jobs]
    jobs = [j for j in planned_jobs if j.output not in done]
    log.info(
        "augment %s/%s: %d images planned (%s) from %d stylizers (pool=%s), %d already done, "
        "%d to make",
        index.name, a.tag, len(planned_jobs),
        ", ".join(f"{c}={len(v)}" for c, v in plan.jobs.items()), len(stylizers),
        cfg.stylizer.pool, len(planned_jobs) - len(jobs), len(jobs),
    )  # fmt: skip
    logger = make_logger(
        cfg, name=f"augment-{index.name}-{a.tag}", group=f"augment-{index.name}", job_type="augment"
    )
    try:
        start = time.perf_counter()
        if jobs and not run_predict(cfg, jobs, stylizers, extra, index, image_size, out_dir):
            return {}  # a non-zero rank of a multi-process run: rank 0 writes the summary
        seconds = time.perf_counter() - start
        rows = reconcile(out_dir, wanted)  # also tidies up after a failed write
        summary = summarize(plan, jobs, rows, seconds, out_dir)
        write_info(out_dir, index, a, image_size, stylizers, plan, rows, summary)
        samples = write_samples(index, plan, rows, out_dir, a.tag)
        log.info(
            "augment done: %d written, %d skipped (already done), %d failed, %.1f images/s -> %s",
            summary["written"], summary["skipped"], summary["failed"], summary["images_per_s"],
            out_dir / MANIFEST,
        )  # fmt: skip
        if index.name == "synthetic":
            log.info(SYNTHETIC_NOTE)
        if logger:
            logger.log_metrics({f"augment/{k}": v for k, v in summary.items() if k != "out_dir"})
            if samples is not None and hasattr(logger, "log_image"):
                logger.log_image(key="augment/samples", images=[Image.open(samples)])
    finally:
        finish_logger(logger)
    return summary


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
    """Per class (and for the whole set): mean content score and the Gram-distance ratio
    (stylized images' mean distance to the style / their sources' mean distance)."""
    outputs = {j.output: j.cls for v in plan.jobs.values() for j in v}
    groups: dict[str, list[dict]] = collections.defaultdict(list)
    for r in rows.values():
        if r["output"] in outputs and "content_score" in r:
            groups[outputs[r["output"]]].append(r)
            groups["all"].append(r)
    return {cls: quality_of(rs) for cls, rs in groups.items()}


def quality_of(rows: list[dict]) -> dict:
    """Content score (mean edge correlation) and Gram ratio of a list of manifest rows."""
    source = float(np.mean([r["source_gram_distance"] for r in rows]))
    return {
        "images": len(rows),
        "content_score": round(float(np.mean([r["content_score"] for r in rows])), 4),
        "gram_ratio": round(float(np.mean([r["gram_distance"] for r in rows])) / source, 4)
        if source > 0
        else None,
    }


def write_info(out_dir, index, a, image_size, stylizers, plan, rows, summary) -> None:
    quality = quality_by_class(plan, rows)
    atomic_write_json(
        out_dir / "info.json",
        {
            "dataset": index.name,
            "tag": a.tag,
            "note": SYNTHETIC_NOTE if index.name == "synthetic" else "",
            "image_size": image_size,
            "format": a.format,
            "stylizers": {
                sid: {k: v for k, v in s.items() if k not in ("net", "style_tensors")}
                for sid, s in stylizers.items()
            },
            "counts": {c: sum(1 for r in rows.values() if r["class"] == c) for c in plan.jobs},
            "quality": quality,
            "last_run": summary,
        },
    )
    for cls, q in quality.items():
        log.info(
            "quality %s: content score (edge correlation) %.3f, Gram distance to the style "
            "%.3f x the sources' (%d images)", cls, q["content_score"], q["gram_ratio"] or 0,
            q["images"],
        )  # fmt: skip


def run_predict(cfg, jobs, stylizers, extra, index, image_size, out_dir) -> bool:
    """Stylize ``jobs`` with ``trainer.predict``; True in the process that should summarise."""
    a = cfg.augment
    order = list(stylizers)
    dataset = SourceImages(
        jobs, index.root, {sid: k for k, sid in enumerate(order)}, image_size,
        cfg.data.on_bad_image,
    )  # fmt: skip
    workers = int(cfg.data.num_workers)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=int(a.batch_size),
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_jobs,
        pin_memory=cfg.trainer.accelerator == "gpu",
        prefetch_factor=4 if workers else None,
    )
    module = StylizeModule(
        [stylizers[sid]["net"] for sid in order],
        [stylizers[sid]["preserve_color"] for sid in order],
        style_scorer(stylizers, order) if a.score else None,
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


def write_samples(index, plan: Plan, rows, out_dir: Path, tag: str, per_class: int = 6):
    """source | stylized rows per class, from what is on disk."""
    by_output = {r["output"]: r for r in rows.values()}
    grid_rows = []
    for cls, jobs in plan.jobs.items():
        done = [by_output[j.output] for j in jobs if j.output in by_output][:per_class]
        if not done:
            continue
        pairs = [(read_image(index.abspath(r["source"]), "skip"), r) for r in done]
        pairs = [(apply_view(im, r["view"]), r) for im, r in pairs if im is not None]  # rows align
        grid_rows += [
            (f"{cls}", [im for im, _ in pairs]),
            ("  stylized", [Image.open(out_dir / r["output"]) for _, r in pairs]),
        ]
    if not grid_rows:
        return None
    title = f"augmented set {index.name}/{tag}" + (
        " (SYNTHETIC: smoke data)" if index.name == "synthetic" else ""
    )
    return save_png(image_grid(grid_rows, title=title), out_dir / "samples.png")


@hydra.main(version_base="1.3", config_path="../conf", config_name="augment")
def main(cfg: DictConfig) -> None:
    augment(cfg)


if __name__ == "__main__":
    main()
