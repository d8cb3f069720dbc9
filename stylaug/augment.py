"""``python -m stylaug.augment``: stylize each class's training images with that class's stylizer.

Which images: the union, over ``augment.scenarios`` and ``augment.seeds``, of each scenario's
stylization sources (``ScenarioSplit.augment``: always inside that scenario's own training list,
never test images), de-duplicated by (source, view). Output, under
``data/augmented/<dataset>/<tag>/``: ``<class>/<name>.png`` and ``manifest.jsonl`` with one line per
stylized image: ``source`` (as in the dataset index), ``view`` (1 = mirrored before stylizing),
``class``, ``stylizer`` (checkpoint hash), ``output`` (relative to the manifest's folder).

Generation is Lightning ``trainer.predict``: DataLoader workers decode, the module stylizes, and a
prediction-writer callback encodes and writes on a small thread pool, off the critical path. Each
image is written to a temp name and renamed, then its manifest line is appended, so a rerun (after
a crash or SIGKILL) keeps exactly the images that have both, drops orphans, and makes the rest.
With several devices Lightning's predict sampler gives each rank disjoint images: written once.
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
from stylaug.data.images import check_on_bad_image, read_image
from stylaug.data.index import DatasetIndex, load_index
from stylaug.data.scenarios import apply_view, sample_scenario
from stylaug.io import append_jsonl, atomic_path, atomic_write_json, atomic_write_text, read_jsonl
from stylaug.runtime import finish_logger, make_logger, make_trainer
from stylaug.stylizer import load_stylizer, square_tensor, stylize_batch, stylizer_hash

log = logging.getLogger(__name__)

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
MANIFEST = "manifest.jsonl"
FORMATS = {"png": ("PNG", "png"), "jpeg": ("JPEG", "jpg")}
SYNTHETIC_NOTE = "stylized synthetic procedural data: smoke results only, never paper results"


@dataclass(frozen=True)
class Job:
    cls: str
    source: str  # relative to the dataset root, as in DatasetIndex.paths / ScenarioSplit.augment
    view: int
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


def output_name(cls: str, source: str, view: int, ext: str) -> str:
    """A stable, collision-free file name per (source, view): stem + hash of the full path."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:8]
    return f"{cls}/{Path(source).stem}-{digest}-v{view}.{ext}"


def plan_jobs(index: DatasetIndex, cfg: DictConfig) -> dict[str, list[Job]]:
    """Per class, the (source, view) pairs every configured scenario and seed needs, in order."""
    a = cfg.augment
    classes = list(a.classes)
    unknown = [c for c in classes if c not in index.classes]
    if unknown or not classes:
        raise ValueError(
            f"augment.classes={classes} has unknown classes {unknown}; dataset {index.name!r} "
            f"has {index.classes}"
        )
    ext = FORMATS[a.format][1]
    seeds = [int(cfg.seed)] if a.seeds is None else [int(s) for s in a.seeds]
    pairs: dict[str, dict[tuple[str, int], None]] = {c: {} for c in classes}
    scenarios = scenario_configs(cfg)
    for seed in seeds:
        for scenario in scenarios:
            split = sample_scenario(index, scenario, seed)
            for cls in classes:
                pairs[cls].update(dict.fromkeys(split.augment[cls]))
    jobs = {}
    for cls in classes:
        chosen = list(pairs[cls])
        if a.max_per_class is not None and len(chosen) > a.max_per_class:
            log.warning(
                "class %s: the scenarios need %d stylized images; augment.max_per_class=%d keeps "
                "the first %d, so classify will miss some",
                cls,
                len(chosen),
                a.max_per_class,
                a.max_per_class,
            )
            chosen = chosen[: a.max_per_class]
        jobs[cls] = [Job(cls, s, v, output_name(cls, s, v, ext)) for s, v in chosen]
    return jobs


def load_stylizers(cfg: DictConfig, index: DatasetIndex, classes) -> dict[str, dict]:
    """Every class's checkpoint, checked before any work: a missing one names the command."""
    folder = Path(cfg.augment.stylizer_dir)
    missing = [c for c in classes if not (folder / f"{c}.ckpt").is_file()]
    if missing:
        raise FileNotFoundError(
            "no stylizer checkpoint for "
            + ", ".join(f"{c} ({folder / f'{c}.ckpt'})" for c in missing)
            + ". Train them first: python -m stylaug.train_stylizer -m class="
            + ",".join(missing)
            + f" dataset={index.name} paths.root={cfg.paths.root}"
        )
    stylizers = {}
    for cls in classes:
        path = folder / f"{cls}.ckpt"
        net, meta = load_stylizer(path)
        if meta.get("dataset") != index.name or meta.get("class") != cls:
            raise ValueError(
                f"{path} is the stylizer of class {meta.get('class')!r} on dataset "
                f"{meta.get('dataset')!r}, not of {cls!r} on {index.name!r}; retrain it with "
                f"python -m stylaug.train_stylizer class={cls} dataset={index.name}"
            )
        preserve = cfg.augment.preserve_color
        stylizers[cls] = {
            "net": net,
            "path": str(path),
            "hash": stylizer_hash(path),
            "loss_net_weights": meta.get("loss_net_weights", "unknown"),
            "preserve_color": bool(meta.get("preserve_color") if preserve is None else preserve),
            "steps": meta.get("steps"),
        }
    return stylizers


# --- resuming ------------------------------------------------------------------------------------


def settings_id(cfg: DictConfig, image_size: int, preserve: bool) -> str:
    """What else (beyond the stylizer) determines an output file; a change regenerates it."""
    a = cfg.augment
    blob = json.dumps([image_size, a.format, int(a.jpeg_quality), bool(preserve)])
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def reconcile(out_dir: Path, wanted: dict[str, dict]) -> dict[str, dict]:
    """Make the manifest and the files agree, for the classes in ``wanted`` ({class: {stylizer,
    settings}}): keep rows whose file exists and whose stylizer and settings are current (one per
    output), delete files without a row (a killed run's orphans and temp files). Returns the kept
    rows by output. Rows of other classes are left alone."""
    manifest = out_dir / MANIFEST
    rows = read_jsonl(manifest)
    keep: dict[str, dict] = {}
    for row in rows:
        current = wanted.get(row.get("class"))
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
    for cls in wanted:
        folder = out_dir / cls
        for f in folder.iterdir() if folder.is_dir() else ():
            if f.is_file() and f"{cls}/{f.name}" not in keep:
                f.unlink()
                removed += 1
    if removed:
        log.info("removed %d files without a manifest line (from an interrupted run)", removed)
    return keep


# --- the Lightning pieces ------------------------------------------------------------------------


class SourceImages(torch.utils.data.Dataset):
    """Decodes one job's source image (mirrored for view 1) as a [0, 1] square."""

    def __init__(self, jobs: list[Job], root: Path, class_ids: dict, image_size: int, policy: str):
        self.jobs = jobs
        self.root = Path(root)
        self.class_ids = class_ids
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
        return {"i": i, "class": self.class_ids[job.cls], "image": image}


def collate_jobs(batch: list[dict]) -> dict:
    good = [b for b in batch if b["image"] is not None]
    return {
        "i": torch.tensor([b["i"] for b in good], dtype=torch.long),
        "class": torch.tensor([b["class"] for b in good], dtype=torch.long),
        "image": torch.stack([b["image"] for b in good]) if good else torch.empty(0, 3, 1, 1),
        "failed": [b["i"] for b in batch if b["image"] is None],
    }


class StylizeModule(pl.LightningModule):
    """All classes' stylizers; each image goes through its own class's network."""

    def __init__(self, nets: list[nn.Module], preserve: list[bool], channels_last: bool = False):
        super().__init__()
        self.nets = nn.ModuleList(nets).eval().requires_grad_(False)
        self.preserve = list(preserve)
        self.channels_last = channels_last
        if channels_last:
            self.nets.to(memory_format=torch.channels_last)

    def predict_step(self, batch, batch_idx):
        images, classes = batch["image"], batch["class"]
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        out = torch.empty(images.shape, dtype=torch.uint8, device=images.device)
        for c in classes.unique().tolist():
            m = classes == c
            y = stylize_batch(self.nets[c], images[m], self.preserve[c])
            out[m] = y.mul(255).round_().to(torch.uint8)
        return out.cpu()  # uint8: 4x less to hand to the writer


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

    def __init__(self, jobs, out_dir, fmt, quality, row_extra: dict, threads=2, max_pending=64):
        super().__init__(write_interval="batch")
        self.jobs, self.out_dir = jobs, Path(out_dir)
        self.fmt, self.quality = fmt, int(quality)
        self.row_extra = row_extra  # class -> extra manifest keys (stylizer hash, settings, ...)
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

    def write_one(self, i: int, array: np.ndarray) -> None:
        job = self.jobs[i]
        write_image(self.out_dir / job.output, array, self.fmt, self.quality)
        row = {"source": job.source, "view": job.view, "class": job.cls, "output": job.output}
        append_jsonl(self.out_dir / MANIFEST, {**row, **self.row_extra[job.cls], "rank": self.rank})

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, *args):
        images = prediction.permute(0, 2, 3, 1).numpy()
        for k, i in enumerate(batch["i"].tolist()):
            self.pending.append(self.pool.submit(self.write_one, i, images[k]))
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
    """Stylize every planned (source, view) not already done; return the run summary."""
    a = cfg.augment
    check_on_bad_image(cfg.data.on_bad_image)
    if a.format not in FORMATS:
        raise ValueError(f"augment.format={a.format!r} is not valid; use one of {list(FORMATS)}")
    index = load_index(cfg.dataset)
    plan = plan_jobs(index, cfg)
    stylizers = load_stylizers(cfg, index, list(plan))
    image_size = int(a.image_size or cfg.dataset.image_size)
    out_dir = Path(a.out_dir)
    extra = {
        cls: {
            "stylizer": s["hash"],
            "settings": settings_id(cfg, image_size, s["preserve_color"]),
            "loss_net_weights": s["loss_net_weights"],
            "preserve_color": s["preserve_color"],
            "dataset": index.name,
        }
        for cls, s in stylizers.items()
    }
    done = reconcile(out_dir, extra)
    jobs = [j for cls_jobs in plan.values() for j in cls_jobs if j.output not in done]
    planned = sum(len(v) for v in plan.values())
    log.info(
        "augment %s/%s: %d images planned (%s), %d already done, %d to make",
        index.name,
        a.tag,
        planned,
        ", ".join(f"{c}={len(v)}" for c, v in plan.items()),
        planned - len(jobs),
        len(jobs),
    )
    logger = make_logger(
        cfg, name=f"augment-{index.name}-{a.tag}", group=f"augment-{index.name}", job_type="augment"
    )
    try:
        start = time.perf_counter()
        if jobs and not run_predict(cfg, jobs, stylizers, extra, index, image_size, out_dir):
            return {}  # a non-zero rank of a multi-process run: rank 0 writes the summary
        seconds = time.perf_counter() - start
        rows = reconcile(out_dir, extra)  # also tidies up after a failed write
        made = {(r["class"], r["source"], r["view"]) for r in rows.values()}
        missing = [j for v in plan.values() for j in v if (j.cls, j.source, j.view) not in made]
        written = sum((j.cls, j.source, j.view) in made for j in jobs)
        summary = {
            "planned": planned,
            "written": written,
            "skipped": planned - len(jobs),
            "failed": len(missing),
            "seconds": round(seconds, 3),
            "images_per_s": round(written / seconds, 2) if written and seconds > 0 else 0.0,
            "out_dir": str(out_dir),
        }
        atomic_write_json(
            out_dir / "info.json",
            {
                "dataset": index.name,
                "tag": a.tag,
                "note": SYNTHETIC_NOTE if index.name == "synthetic" else "",
                "image_size": image_size,
                "format": a.format,
                "stylizers": {
                    c: {k: v for k, v in s.items() if k != "net"} for c, s in stylizers.items()
                },
                "counts": {c: sum(1 for r in rows.values() if r["class"] == c) for c in plan},
                "last_run": summary,
            },
        )
        samples = write_samples(index, plan, rows, out_dir, a.tag)
        log.info(
            "augment done: %d written, %d skipped (already done), %d failed, %.1f images/s -> %s",
            summary["written"],
            summary["skipped"],
            summary["failed"],
            summary["images_per_s"],
            out_dir / MANIFEST,
        )
        if index.name == "synthetic":
            log.info(SYNTHETIC_NOTE)
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
    classes = list(stylizers)
    dataset = SourceImages(
        jobs, index.root, {c: k for k, c in enumerate(classes)}, image_size, cfg.data.on_bad_image
    )
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
        [stylizers[c]["net"] for c in classes],
        [stylizers[c]["preserve_color"] for c in classes],
        bool(a.channels_last),
    )
    writer = ManifestWriter(jobs, out_dir, a.format, a.jpeg_quality, extra, a.write_threads)
    overrides = {"enable_progress_bar": False, "enable_model_summary": False}
    trainer = make_trainer(cfg, "augment", False, [writer], **overrides)
    if len(jobs) < trainer.world_size:  # Lightning needs >= 1 image per rank; not worth spawning
        trainer = make_trainer(
            cfg, "augment", False, [writer], devices=1, strategy="auto", **overrides
        )
    trainer.predict(module, dataloaders=loader, return_predictions=False)
    return trainer.is_global_zero


def write_samples(index, plan, rows, out_dir: Path, tag: str, per_class: int = 6) -> Path | None:
    """source | stylized rows per class, from what is on disk."""
    by_key = {(r["class"], r["source"], r["view"]): r for r in rows.values()}
    grid_rows = []
    for cls, jobs in plan.items():
        done = [by_key[k] for k in ((j.cls, j.source, j.view) for j in jobs) if k in by_key]
        done = done[:per_class]
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
