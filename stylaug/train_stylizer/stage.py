"""``python -m stylaug.train_stylizer class=ocean``: train one class's Johnson stylizer.

Which images (``stylizer.pool``, see ``stylaug.stylizer``): with ``scenario`` (the default) the
training images of ``class`` in the configured ``scenario`` and ``seed`` - nothing else, so no
stylizer ever sees a validation or test image; with ``class`` (the paper's protocol) the class's
whole training pool. The style image is drawn from the same list (or ``stylizer.style_images=[PATH,
...]``, blended by ``stylizer.style_blend``). ``-m class=desert_sand,hot_spring,ocean,skyscraper
scenario=balanced,biased_case1,biased_case2,scarce seed=0,1,2`` trains every stylizer a study needs;
lists that are identical (e.g. balanced and biased_case1 for every class but the minority) are
trained once.

Training length: ``stylizer.max_steps`` if > 0, else ``epochs`` passes over the list but at least
``stylizer.min_steps`` steps, so a small list (scarce: 400 images) is not under-trained next to a
large one: every stylizer gets at least the steps the paper's got (2 epochs of 5000 images at
batch 4 = 2500).

Output: ``<stylizer.out_dir>/<class>/<list id>.ckpt`` (see ``stylaug.stylizer``) and
``<list id>_samples.png``; Lightning's resumable ``last.ckpt`` lives in ``_train/<class>/<list id>/``.
Reruns: a finished checkpoint with the same settings is kept (``stylizer.force=true`` retrains); an
interrupted run resumes from ``last.ckpt``; a longer ``max_steps``/``epochs`` continues training.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from hydra import compose
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from stylaug.artifacts.checkpoints import checkpoint_path
from stylaug.artifacts.training_lists import check_pool, list_id, list_seed, training_list
from stylaug.core.cost import resumed_seconds, trainer_device
from stylaug.core.identity import RESULT_FREE_KEYS, digest, node_settings
from stylaug.core.interruption import stop_signals
from stylaug.core.io import atomic_write_json, file_sha256
from stylaug.core.resumable_training import (
    can_resume,
    planned_steps,
    resume_key,
    step_checkpoint,
    trained_steps,
    world_size,
)
from stylaug.core.runtime import finish_logger, make_logger, make_trainer
from stylaug.core.settings_check import check_settings
from stylaug.data.dataset import ImageFiles, SquareView, collate_images, square_tensor
from stylaug.data.images import check_on_bad_image, load_rgb, read_image
from stylaug.data.index import DatasetIndex, load_index
from stylaug.data.scenarios import sample_scenario
from stylaug.data.visual import data_notes, log_notes, to_pil, write_grid
from stylaug.models.loss_net import default_layers
from stylaug.models.stylizer import StylizerCheckpointError, load_stylizer, save_stylizer
from stylaug.train_stylizer.stylizer_training import StylizerTraining

log = logging.getLogger(__name__)

# stylizer.* keys that cannot change the trained network (everything else is part of its identity)


def style_choice(images: list[str], identifier: str) -> str:
    """The default style image: one image of the training list, drawn from the list's own seed."""
    rng = np.random.default_rng(list_seed(identifier))
    ordered = sorted(images)
    return ordered[int(rng.integers(len(ordered)))]


def resolve_style_images(spec, index: DatasetIndex, images, identifier: str) -> list[Path]:
    """``null`` -> the list's own choice; else paths (cwd-relative, or relative to the dataset)."""
    if spec is None:
        return [index.abspath(style_choice(images, identifier))]
    specs = [spec] if isinstance(spec, str) else list(spec)
    if not specs:
        raise ValueError("stylizer.style_images is an empty list; give at least one PATH or null")
    paths = []
    for s in specs:
        candidates = [Path(s), index.abspath(s)]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise FileNotFoundError(
                f"style image {s!r} (stylizer.style_images) does not exist, neither relative to the "
                f"current directory nor to the dataset root {index.root}. Give an existing image "
                "file, or stylizer.style_images=null for a seed-chosen image of the class."
            )
        paths.append(found)
    return paths


def resolve_blend(spec, n: int) -> list[float]:
    """Blend weights for ``n`` style images, normalised to sum 1 (null: equal weights)."""
    weights = [1.0] * n if spec is None else [float(w) for w in spec]
    if len(weights) != n or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(
            f"stylizer.style_blend={list(weights)} must give {n} non-negative weights (one per "
            "style image) with a positive sum, or be null for equal weights"
        )
    return [w / sum(weights) for w in weights]


class StylizerPlan:
    """Everything about one stylizer decided before training: its images, style, settings, files."""

    def __init__(self, cfg: DictConfig, cls: str, index: DatasetIndex):
        s = cfg.stylizer
        split = None
        if check_pool(s.pool) == "scenario":
            split = sample_scenario(index, cfg.scenario, int(cfg.seed))
        self.images = training_list(index, split, cls, s.pool)
        # a list smaller than a batch (fewshot's k = 1, 2) trains in batches of the whole list
        self.batch_size = min(int(s.batch_size), len(self.images))
        if self.batch_size < int(s.batch_size):
            log.info(
                "the stylizer of class %s has %d training images, fewer than stylizer.batch_size="
                "%d: it trains on batches of %d", cls, len(self.images), s.batch_size,
                self.batch_size,
            )  # fmt: skip
        self.id = list_id(index, self.images)
        self.seed = list_seed(self.id)
        self.styles = resolve_style_images(s.style_images, index, self.images, self.id)
        self.blend = resolve_blend(s.style_blend, len(self.styles))
        arch = cfg.model.loss_net.arch
        self.content_layers, self.style_layers = default_layers(
            arch, "johnson", s.content_layers, s.style_layers
        )
        self.processes = world_size(cfg.trainer)
        length = {k: s[k] for k in ("max_steps", "epochs", "min_steps")}
        length = OmegaConf.create({**length, "batch_size": self.batch_size})
        self.steps = planned_steps(length, len(self.images), self.processes)
        self.settings = {
            "class": cls,
            "dataset": index.name,
            "pool": s.pool,
            "list": self.id,
            "style_sha256": [file_sha256(p) for p in self.styles],
            "style_blend": self.blend,
            "stylizer": node_settings(s, RESULT_FREE_KEYS["stylizer"]),
            "content_layers": self.content_layers,
            "style_layers": self.style_layers,
            "model": node_settings(cfg.model, ("backbone",)),
            "precision": str(cfg.trainer.precision),
            "processes": self.processes,
            "effective_batch": self.batch_size * self.processes,
            "steps": self.steps,
        }
        if self.batch_size < int(s.batch_size):  # only then: every other id stays as it was
            self.settings["batch_size"] = self.batch_size
        self.settings_hash = digest(self.settings)
        self.out = checkpoint_path(s.out_dir, cls, self.id)
        self.work = Path(s.out_dir) / "_train" / cls / self.id
        self.compute = None  # {"train_seconds", "device"}, once trained

    def resume_key(self) -> str:
        """Settings a longer run may continue from: everything but the training length."""
        return resume_key(self.settings, "stylizer")


def existing_settings_hash(path: Path) -> str | None:
    """The settings hash of the stylizer at ``path``; None if there is none, or it is damaged or
    foreign (then it is retrained and replaced)."""
    try:
        return load_stylizer(path)[1].get("settings_hash")
    except FileNotFoundError:
        return None
    except StylizerCheckpointError as err:
        log.warning("%s; retraining it", err)
        return None


def build_module(cfg: DictConfig, plan: StylizerPlan) -> StylizerTraining:
    """The Lightning module; builds the loss network, so missing weights stop us here."""
    s = cfg.stylizer
    styles = [square_tensor(load_rgb(p), s.image_size) for p in plan.styles]  # bad -> error now
    return StylizerTraining(
        instantiate(cfg.model.transformer),
        instantiate(cfg.model.loss_net, layers=plan.content_layers + plan.style_layers),
        styles,
        plan.blend,
        plan.content_layers,
        plan.style_layers,
        **{key: s[key] for key in StylizerTraining.HYPERPARAMETERS},
    )


def train_loader(cfg: DictConfig, index: DatasetIndex, plan: StylizerPlan) -> DataLoader:
    """The stylizer's training images, shuffled, in full batches (instance-norm statistics and the
    loss scale assume full batches)."""
    s, workers = cfg.stylizer, int(cfg.data.num_workers)
    images = ImageFiles(
        [index.abspath(r) for r in plan.images],
        SquareView(s.image_size),
        on_bad_image=cfg.data.on_bad_image,
    )
    return DataLoader(
        images,
        batch_size=plan.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        collate_fn=collate_images,
    )


def probe_images(index: DatasetIndex, plan: StylizerPlan, s: DictConfig) -> torch.Tensor:
    """A few fixed training images: the noise-free before/after loss probe and the sample grid."""
    images = (read_image(index.abspath(r), "skip") for r in plan.images[: s.sample_images])
    return torch.stack([square_tensor(img, s.image_size) for img in images if img is not None])


def stylizer_logger(cfg: DictConfig, dataset: str, plan: StylizerPlan, module):
    """One stylizer's experiment log, named the same whether it trains alone or in a group."""
    return make_logger(
        cfg,
        name=f"stylizer-{dataset}-{plan.settings['class']}-{plan.id}",
        group=f"train_stylizer-{dataset}",
        job_type="train_stylizer",
        extra_config={"loss_net_weights": module.loss_net.weights, "stylizer_list": plan.id},
    )


def train_stylizer(cfg: DictConfig) -> Path:
    """Train (or keep, or resume) the stylizer of ``cfg.class``; return its checkpoint path."""
    check_settings(cfg)  # every numeric setting in range, before any work
    s = cfg.stylizer
    cls = cfg.get("class")
    check_on_bad_image(cfg.data.on_bad_image)
    index = load_index(cfg.dataset)
    if cls not in index.classes:
        raise ValueError(
            f"unknown class {cls!r}: dataset {index.name!r} has classes {index.classes}. "
            f"Use class=<one of them>, or -m class={','.join(index.classes)} for all."
        )
    plan = StylizerPlan(cfg, cls, index)
    if not s.force and existing_settings_hash(plan.out) == plan.settings_hash:
        log.info("stylizer %s/%s is already trained with these settings (skipped)", cls, plan.id)
        return plan.out
    pl.seed_everything(plan.seed, workers=True)  # also fixes a random-init loss network
    module = build_module(cfg, plan)
    log.debug(
        "stylizer %s/%s (pool=%s): %d training images, %d steps, style %s, loss network %s",
        cls, plan.id, s.pool, len(plan.images), plan.steps,
        ", ".join(str(p) for p in plan.styles), module.loss_net.weights,
    )  # fmt: skip
    data = train_loader(cfg, index, plan)
    logger = stylizer_logger(cfg, index.name, plan, module)
    probe = probe_images(index, plan, s)
    try:
        steps, run = fit(cfg, plan, module, data, probe, logger)
        if steps is None:  # a non-zero rank of a multi-process run
            return plan.out
        write_checkpoint(cfg, index, plan, module, steps, run, probe, logger)
    finally:
        finish_logger(logger)
    return plan.out


def fit(cfg, plan: StylizerPlan, module: StylizerTraining, data, probe: torch.Tensor, logger):
    """Train (resuming a matching interrupted run); returns (steps, run facts: resumed, probe
    losses) - steps is None in a process that is not rank 0."""
    s = cfg.stylizer
    stamp, last = plan.work / "settings.json", plan.work / "last.ckpt"
    resume = can_resume(s, stamp, last, plan.resume_key())
    checkpoint = step_checkpoint(plan.work, s.checkpoint_every)
    what = f"stylizer {plan.settings['class']}/{plan.id}"
    trainer = make_trainer(
        cfg, "train_stylizer", logger, [checkpoint], progress=what, max_epochs=-1,
        max_steps=plan.steps,
    )  # fmt: skip
    before = resumed_seconds(stamp, resume)
    if trainer.is_global_zero:
        atomic_write_json(stamp, {"resume_key": plan.resume_key(), "settings": plan.settings})
    start = module.probe(probe)  # the untrained network (same seed, same init)
    clock = time.perf_counter()
    with warnings.catch_warnings(), stop_signals(what):  # SIGTERM/SIGINT: save, exit 143/130
        warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")  # on purpose
        trainer.fit(module, train_dataloaders=data, ckpt_path=str(last) if resume else None)
    plan.compute = {  # a resumed run adds its seconds to the interrupted run's
        "train_seconds": round(before + time.perf_counter() - clock, 3),
        "device": trainer_device(trainer),
    }
    if trainer.is_global_zero:
        stamp_data = {"resume_key": plan.resume_key(), "settings": plan.settings}
        atomic_write_json(stamp, {**stamp_data, "train_seconds": plan.compute["train_seconds"]})
    if trainer.interrupted:
        raise RuntimeError(
            f"training of stylizer {plan.settings['class']}/{plan.id} was interrupted at step "
            f"{trainer.global_step}; rerun the same command to resume from {last}"
        )
    run = {"resumed": bool(resume)}
    if not trainer.is_global_zero:
        return None, run
    if trainer.world_size != plan.processes:
        log.warning(
            "the trainer ran %d processes, the settings assumed %d (effective batch %d)",
            trainer.world_size, plan.processes, plan.settings["effective_batch"],
        )  # fmt: skip
    run["losses"] = {"initial": start, "end": module.probe(probe)}
    return trained_steps(trainer, last), run


def write_checkpoint(cfg, index, plan: StylizerPlan, module, steps: int, run: dict, probe, logger):
    """The stylizer checkpoint (weights and metadata) and its sample grid."""
    s = cfg.stylizer
    cls = plan.settings["class"]
    weights = module.loss_net.weights
    metadata = {
        "class": cls,
        "dataset": index.name,
        "pool": s.pool,
        "list_id": plan.id,
        "train_list": list(plan.images),
        "notes": data_notes(index.name, weights),
        "style_images": [
            {"path": str(p), "sha256": h}
            for p, h in zip(plan.styles, plan.settings["style_sha256"], strict=True)
        ],
        "style_blend": plan.blend,
        "loss_net": cfg.model.loss_net.arch,
        "loss_net_weights": weights,
        "style_layers": plan.style_layers,
        "residual_blocks": int(cfg.model.transformer.residual_blocks),
        "image_size": int(s.image_size),
        "steps": steps,
        "planned_steps": plan.steps,
        "effective_batch": plan.settings["effective_batch"],
        "processes": plan.processes,
        "resumed": run["resumed"],
        "preserve_color": bool(s.preserve_color),
        "train_images": len(plan.images),
        "probe_losses": run["losses"],
        "compute": plan.compute,
        "settings": plan.settings,
        "settings_hash": plan.settings_hash,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    save_stylizer(plan.out, module.net, metadata)
    stylized = module.stylize(probe.to(module.device)).cpu()
    rows = [
        ("style", [to_pil(square_tensor(load_rgb(p), s.image_size)) for p in plan.styles]),
        ("content", [to_pil(t) for t in probe]),
        ("stylized", [to_pil(t) for t in stylized]),
    ]
    samples = write_grid(
        rows,
        plan.out.with_name(f"{plan.id}_samples.png"),
        f"stylizer {cls}/{plan.id} (pool={s.pool}, loss net {weights})",
        index.name,
    )
    if logger and hasattr(logger, "log_image"):
        from PIL import Image

        logger.log_image(key="samples", images=[Image.open(samples)])
    log.info(
        "stylizer %s/%s (pool=%s, %d images, style %s, %s): %d steps in %.0f s, style loss on "
        "%d fixed images %.3g -> %.3g; wrote %s",
        cls, plan.id, cfg.stylizer.pool, len(plan.images),
        ", ".join(Path(p).name for p in plan.styles), module.loss_net.weights, steps,
        plan.compute["train_seconds"], len(probe), run["losses"]["initial"]["style"],
        run["losses"]["end"]["style"], plan.out,
    )  # fmt: skip
    log_notes(log, metadata["notes"])


# --- several stylizers ------------------------------------------------------------------------------


def distinct_jobs(jobs: list[list[str]]) -> list[list[str]]:
    """The jobs (train_stylizer overrides) with distinct training lists: scenarios that share a
    list share its stylizer, so it is trained once (needs an initialised Hydra)."""
    seen, out = set(), []
    for overrides in jobs:
        cfg = compose(config_name="train_stylizer", overrides=overrides)
        key = (cfg.get("class"), StylizerPlan(cfg, cfg.get("class"), load_index(cfg.dataset)).id)
        if key not in seen:
            seen.add(key)
            out.append(overrides)
    return out
