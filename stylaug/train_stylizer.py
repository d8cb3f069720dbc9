"""``python -m stylaug.train_stylizer class=ocean``: train one class's Johnson stylizer.

The network is trained on that class's training images only (never its test images), with a style
image taken from the same class (seed-chosen, or ``stylizer.style_images=[PATH, ...]``, blended by
``stylizer.style_blend``). Output: ``<stylizer.out_dir>/<class>.ckpt`` (see ``stylaug.stylizer``)
and ``<class>_samples.png``; Lightning's resumable ``last.ckpt`` lives in ``_train/<class>/``.

Reruns: a finished checkpoint with the same settings is kept (``stylizer.force=true`` retrains); an
interrupted run resumes from ``last.ckpt``; a longer ``max_steps``/``epochs`` continues training.
``-m class=desert_sand,hot_spring,ocean,skyscraper`` trains all four, one wandb run each.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import warnings
import zlib
from pathlib import Path

import hydra
import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint

from stylaug.data.grid import image_grid, save_png
from stylaug.data.images import check_on_bad_image, load_rgb, read_image
from stylaug.data.index import DatasetIndex, load_index
from stylaug.io import atomic_path, atomic_write_json, file_sha256
from stylaug.runtime import finish_logger, make_logger, make_trainer
from stylaug.stylizer import (
    StylizerCheckpointError,
    StylizerData,
    StylizerModule,
    load_stylizer,
    save_stylizer,
    square_tensor,
)

log = logging.getLogger(__name__)

SYNTHETIC_NOTE = "trained on synthetic procedural data: a smoke result, never a paper result"
LENGTH_KEYS = ("epochs", "max_steps")  # changing these continues training instead of restarting


class AtomicCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose files appear by rename, so a killed run never leaves a torn last.ckpt."""

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        if not trainer.is_global_zero:  # only rank 0 writes; the others join the barrier
            return super()._save_checkpoint(trainer, filepath)
        with atomic_path(filepath) as tmp:
            super()._save_checkpoint(trainer, str(tmp))
        self._last_checkpoint_saved = filepath

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Save the end state as last.ckpt, so a longer run can continue it. Done here, in the
        training processes: with ddp_spawn the parent process never learns the step count."""
        if self._last_global_step_saved != trainer.global_step:
            self._save_checkpoint(trainer, str(Path(self.dirpath) / "last.ckpt"))


def trained_steps(trainer: pl.Trainer, last: Path) -> int:
    """Steps trained so far: the trainer's count, or (ddp_spawn parent, where it stays 0) the one
    rank 0 saved in last.ckpt."""
    if trainer.global_step or not last.is_file():
        return int(trainer.global_step)
    return int(torch.load(last, map_location="cpu", weights_only=False)["global_step"])


def style_choice(index: DatasetIndex, cls: str, seed: int) -> str:
    """The default style image: a fixed, seed-chosen image of the class's training pool."""
    pool = index.paths("train", cls)
    rng = np.random.default_rng([int(seed), zlib.crc32(cls.encode()), 1])
    return pool[int(rng.integers(len(pool)))]


def resolve_style_images(spec, index: DatasetIndex, cls: str, seed: int) -> list[Path]:
    """``null`` -> the seed-chosen image; else paths (cwd-relative, or relative to the dataset)."""
    if spec is None:
        return [index.abspath(style_choice(index, cls, seed))]
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


def data_fingerprint(index: DatasetIndex, cls: str) -> str:
    """Changes when the class's training images change (file list or generator settings)."""
    blob = json.dumps([index.name, index.paths("train", cls), index.meta.get("settings")])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stylizer_settings(cfg: DictConfig, cls: str, index, styles, blend) -> dict:
    """Everything that determines the trained network; equal settings -> skip retraining."""
    s = cfg.stylizer
    return {
        "class": cls,
        "dataset": index.name,
        "data": data_fingerprint(index, cls),
        "seed": int(cfg.seed),
        "style_sha256": [file_sha256(p) for p in styles],
        "style_blend": blend,
        "residual_blocks": int(cfg.model.transformer.residual_blocks),
        "loss_net": f"{cfg.model.loss_net.arch}:{cfg.model.loss_net.weights}",
        "precision": str(cfg.trainer.precision),
        **{
            k: OmegaConf.to_container(s[k]) if OmegaConf.is_config(s[k]) else s[k]
            for k in (
                "image_size",
                "batch_size",
                "epochs",
                "max_steps",
                "lr",
                "content_weight",
                "style_weight",
                "tv_weight",
                "content_layers",
                "style_layers",
                "preserve_color",
            )
        },
    }


def existing_settings(path: Path) -> dict | None:
    try:
        return load_stylizer(path)[1].get("settings")
    except (FileNotFoundError, StylizerCheckpointError):
        return None


def train_stylizer(cfg: DictConfig) -> Path:
    """Train (or keep, or resume) the stylizer of ``cfg.class``; return its checkpoint path."""
    s = cfg.stylizer
    cls = cfg.get("class")
    check_on_bad_image(cfg.data.on_bad_image)
    index = load_index(cfg.dataset)
    if cls not in index.classes:
        raise ValueError(
            f"unknown class {cls!r}: dataset {index.name!r} has classes {index.classes}. "
            f"Use class=<one of them>, or -m class={','.join(index.classes)} for all."
        )
    pool = index.paths("train", cls)
    if len(pool) < s.batch_size:
        raise ValueError(
            f"class {cls!r} has {len(pool)} training images in dataset {index.name!r}, fewer than "
            f"one batch (stylizer.batch_size={s.batch_size}). Lower the batch size or add images."
        )
    styles = resolve_style_images(s.style_images, index, cls, cfg.seed)
    blend = resolve_blend(s.style_blend, len(styles))
    style_tensors = [square_tensor(load_rgb(p), s.image_size) for p in styles]  # bad -> error now
    settings = stylizer_settings(cfg, cls, index, styles, blend)

    out = Path(s.out_dir) / f"{cls}.ckpt"
    if not s.force and existing_settings(out) == settings:
        log.info("stylizer %s is already trained with these settings: %s (skipped)", cls, out)
        return out

    pl.seed_everything(int(cfg.seed), workers=True)  # also fixes a random-init loss network
    module = StylizerModule(  # builds the loss network: missing weights stop us here
        style_tensors,
        blend,
        residual_blocks=cfg.model.transformer.residual_blocks,
        loss_arch=cfg.model.loss_net.arch,
        loss_weights=cfg.model.loss_net.weights,
        content_layers=s.content_layers,
        style_layers=s.style_layers,
        content_weight=s.content_weight,
        style_weight=s.style_weight,
        tv_weight=s.tv_weight,
        lr=s.lr,
        channels_last=s.channels_last,
        preserve_color=s.preserve_color,
    )
    weights = module.loss_net.weights
    log.info("stylizer %s: %d training images, style %s, loss network %s", cls, len(pool),
             ", ".join(str(p) for p in styles), weights)  # fmt: skip
    data = StylizerData(
        [index.abspath(r) for r in pool],
        s.image_size,
        s.batch_size,
        cfg.data.num_workers,
        cfg.data.on_bad_image,
    )
    probe = torch.stack(
        [
            square_tensor(img, s.image_size)
            for img in (read_image(index.abspath(r), "skip") for r in pool[: s.sample_images])
            if img is not None
        ]
    )

    work = Path(s.out_dir) / "_train" / cls
    resume_key = {k: v for k, v in settings.items() if k not in LENGTH_KEYS}
    stamp = work / "settings.json"
    last = work / "last.ckpt"
    resume = (
        s.resume
        and not s.force
        and last.is_file()
        and stamp.is_file()
        and json.loads(stamp.read_text()) == resume_key
    )
    logger = make_logger(
        cfg,
        name=f"stylizer-{index.name}-{cls}",
        group=f"train_stylizer-{index.name}",
        job_type="train_stylizer",
        extra_config={"loss_net_weights": weights, "style_images": [str(p) for p in styles]},
    )
    try:
        checkpoint = AtomicCheckpoint(
            dirpath=work,
            filename="step{step}",
            save_last=True,
            save_top_k=0,
            every_n_train_steps=int(s.checkpoint_every),
            enable_version_counter=False,
        )
        trainer = make_trainer(
            cfg,
            "train_stylizer",
            logger,
            [checkpoint],
            max_epochs=int(s.epochs),
            max_steps=int(s.max_steps),
        )
        if trainer.is_global_zero:
            atomic_write_json(stamp, resume_key)
        start = module.probe(probe)  # the untrained network (same seed, same init)
        with warnings.catch_warnings():  # the frozen loss network is in eval mode on purpose
            warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
            trainer.fit(module, datamodule=data, ckpt_path=str(last) if resume else None)
        if trainer.interrupted:
            raise RuntimeError(
                f"training of stylizer {cls} was interrupted at step {trainer.global_step}; "
                f"rerun the same command to resume from {last}"
            )
        if not trainer.is_global_zero:
            return out
        steps = trained_steps(trainer, last)
        end = module.probe(probe)
        metadata = {
            "class": cls,
            "dataset": index.name,
            "note": SYNTHETIC_NOTE if index.name == "synthetic" else "",
            "style_images": [
                {"path": str(p), "sha256": h}
                for p, h in zip(styles, settings["style_sha256"], strict=True)
            ],
            "style_blend": blend,
            "hyperparameters": {
                k: v
                for k, v in settings.items()
                if k not in ("class", "dataset", "style_sha256", "style_blend")
            },
            "loss_net": cfg.model.loss_net.arch,
            "loss_net_weights": weights,
            "residual_blocks": int(cfg.model.transformer.residual_blocks),
            "image_size": int(s.image_size),
            "steps": steps,
            "resumed": bool(resume),
            "preserve_color": bool(s.preserve_color),
            "train_images": len(pool),
            "probe_losses": {"initial": start, "end": end},
            "settings": settings,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        save_stylizer(out, module.net, metadata)
        samples = write_samples(module, probe, style_tensors, out.with_name(f"{cls}_samples.png"),
                                f"stylizer {cls} ({index.name}, loss net {weights})")  # fmt: skip
        if logger and hasattr(logger, "log_image"):
            from PIL import Image

            logger.log_image(key="samples", images=[Image.open(samples)])
        log.info(
            "stylizer %s: %d steps, style loss on %d fixed images %.4g -> %.4g; wrote %s",
            cls,
            steps,
            len(probe),
            start["style"],
            end["style"],
            out,
        )
        if index.name == "synthetic":
            log.info(SYNTHETIC_NOTE)
    finally:
        finish_logger(logger)
    return out


def to_pil(t: torch.Tensor):
    from torchvision.transforms.functional import to_pil_image

    return to_pil_image(t.clamp(0, 1).cpu())


def write_samples(module: StylizerModule, probe, styles, path: Path, title: str) -> Path:
    """content | stylized rows (and the style images), saved as PNG."""
    stylized = module.stylize(probe.to(module.device)).cpu()
    rows = [
        ("style", [to_pil(t) for t in styles]),
        ("content", [to_pil(t) for t in probe]),
        ("stylized", [to_pil(t) for t in stylized]),
    ]
    return save_png(image_grid(rows, title=title), path)


@hydra.main(version_base="1.3", config_path="../conf", config_name="train_stylizer")
def main(cfg: DictConfig) -> None:
    train_stylizer(cfg)


if __name__ == "__main__":
    main()
