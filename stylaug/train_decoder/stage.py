"""``python -m stylaug.train_decoder scenario=biased_case1 seed=0``: train the AdaIN decoder of one
scenario training set (the ``adain`` and ``randomized`` families).

Which images: the training images of every class of the configured ``scenario`` and ``seed``
(``stylizer.pool=scenario``, the default) - the decoder sees nothing else, so no stylized image of
that scenario comes from a network that saw a validation or test image. (A single decoder per
dataset trained on the whole training pool would have seen every scenario's validation images.)
Scenarios with identical training sets (biased_case1 and biased_case2) share one decoder. With
``stylizer.pool=class`` the decoder trains on every class's whole pool, as the stylizers do.

The encoder is the frozen loss network (``model.loss_net``) cut at ``decoder.layer`` (null:
``relu4_1`` for VGG, ``block4`` for EfficientNet-Lite0; ``stylaug.models.adain``); the styles of a
batch are the batch's own images in another order. Length: ``decoder.max_steps`` if > 0, else
``epochs`` passes but at least ``min_steps`` steps.

Output: ``<decoder.out_dir>/<list id>.ckpt`` (weights + metadata, with the training seconds and the
device) and ``<list id>_samples.png``; Lightning's resumable ``last.ckpt`` in ``_train/<list id>/``.
Reruns keep a finished decoder with the same settings; an interrupted run resumes.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from stylaug.artifacts.checkpoints import decoder_path
from stylaug.artifacts.style_families import decoder_list
from stylaug.artifacts.training_lists import check_pool, list_id, list_seed
from stylaug.core.cost import resumed_seconds, trainer_device
from stylaug.core.identity import RESULT_FREE_KEYS, digest, node_settings
from stylaug.core.interruption import stop_signals
from stylaug.core.io import atomic_write_json
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
from stylaug.data.images import check_on_bad_image, read_image
from stylaug.data.index import DatasetIndex, load_index
from stylaug.data.scenarios import sample_scenario
from stylaug.data.visual import data_notes, to_pil, write_grid
from stylaug.models.adain import Decoder, encoder_spec, load_decoder, save_decoder
from stylaug.models.loss_net import LossNetwork
from stylaug.train_decoder.decoder_training import AdaINTraining

log = logging.getLogger(__name__)

# decoder.* keys that cannot change the trained decoder


class DecoderPlan:
    """One decoder: its images, layers, length, settings and files, decided before training."""

    def __init__(self, cfg: DictConfig, index: DatasetIndex):
        d = cfg.decoder
        pool = check_pool(cfg.stylizer.pool)
        split = sample_scenario(index, cfg.scenario, int(cfg.seed)) if pool == "scenario" else None
        self.images = decoder_list(index, split, pool)
        if len(self.images) < max(2, int(d.batch_size)):
            raise ValueError(
                f"the decoder has {len(self.images)} training images, fewer than one batch "
                f"(decoder.batch_size={d.batch_size}, at least 2)"
            )
        self.id = list_id(index, self.images)
        self.seed = list_seed(self.id)
        arch = cfg.model.loss_net.arch
        self.layer, self.style_layers, self.widths = encoder_spec(arch, d.layer, d.style_layers)
        self.processes = world_size(cfg.trainer)
        self.steps = planned_steps(d, len(self.images), self.processes)
        self.settings = {
            "dataset": index.name,
            "pool": pool,
            "list": self.id,
            "decoder": node_settings(d, RESULT_FREE_KEYS["decoder"]),
            "layer": self.layer,
            "style_layers": self.style_layers,
            "widths": self.widths,
            "loss_net": node_settings(cfg.model.loss_net),
            "precision": str(cfg.trainer.precision),
            "processes": self.processes,
            "steps": self.steps,
        }
        self.settings_hash = digest(self.settings)
        self.out = decoder_path(d.out_dir, self.id)
        self.work = Path(d.out_dir) / "_train" / self.id
        self.compute = None

    def resume_key(self) -> str:
        return resume_key(self.settings, "decoder")


def existing_settings_hash(path: Path) -> str | None:
    """The settings hash of the decoder at ``path``; None if there is none, or it is damaged or
    foreign (then it is retrained and replaced)."""
    try:
        return load_decoder(path)[1].get("settings_hash")
    except FileNotFoundError:
        return None
    except ValueError as err:
        log.warning("%s; retraining it", err)
        return None


def build_module(cfg: DictConfig, plan: DecoderPlan) -> AdaINTraining:
    arch, weights = cfg.model.loss_net.arch, cfg.model.loss_net.weights
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # a random-init encoder is the same one augment builds
        encoder = LossNetwork(list(dict.fromkeys([*plan.style_layers, plan.layer])), arch, weights)
    with torch.no_grad():
        channels = encoder(torch.zeros(1, 3, 32, 32))[plan.layer].shape[1]
    d = cfg.decoder
    return AdaINTraining(
        encoder, plan.layer, plan.style_layers, Decoder(channels, plan.widths),
        **{k: d[k] for k in AdaINTraining.HYPERPARAMETERS},
    )  # fmt: skip


def train_decoder(cfg: DictConfig) -> Path:
    """Train (or keep, or resume) the decoder of ``cfg.scenario``/``cfg.seed``; return its path."""
    check_settings(cfg)  # every numeric setting in range, before any work
    d = cfg.decoder
    check_on_bad_image(cfg.data.on_bad_image)
    index = load_index(cfg.dataset)
    plan = DecoderPlan(cfg, index)
    if not d.force and existing_settings_hash(plan.out) == plan.settings_hash:
        log.info("decoder %s is already trained with these settings (skipped)", plan.id)
        return plan.out
    pl.seed_everything(plan.seed, workers=True)
    module = build_module(cfg, plan)
    log.info(
        "AdaIN decoder %s (pool=%s): %d training images, %d steps, encoder %s at %s",
        plan.id, cfg.stylizer.pool, len(plan.images), plan.steps, module.encoder.weights,
        plan.layer,
    )  # fmt: skip
    images = ImageFiles(
        [index.abspath(r) for r in plan.images], SquareView(d.image_size),
        on_bad_image=cfg.data.on_bad_image,
    )  # fmt: skip
    workers = int(cfg.data.num_workers)
    data = DataLoader(
        images, batch_size=int(d.batch_size), shuffle=True, drop_last=True, num_workers=workers,
        persistent_workers=workers > 0, collate_fn=collate_images,
    )  # fmt: skip
    probe_files = (read_image(index.abspath(r), "skip") for r in plan.images[: d.sample_images])
    probe = torch.stack([square_tensor(i, d.image_size) for i in probe_files if i is not None])
    logger = make_logger(
        cfg, name=f"decoder-{index.name}-{plan.id}", group=f"train_decoder-{index.name}",
        job_type="train_decoder", extra_config={"decoder_list": plan.id},
    )  # fmt: skip
    try:
        steps, resumed, losses = fit(cfg, plan, module, data, probe, logger)
        if steps is not None:
            write_checkpoint(cfg, index, plan, module, steps, resumed, probe, losses)
    finally:
        finish_logger(logger)
    return plan.out


def fit(cfg, plan: DecoderPlan, module: AdaINTraining, data, probe, logger):
    """Train (resuming a matching interrupted run); (steps, resumed, probe losses) on rank 0."""
    d = cfg.decoder
    stamp, last = plan.work / "settings.json", plan.work / "last.ckpt"
    resume = can_resume(d, stamp, last, plan.resume_key())
    checkpoint = step_checkpoint(plan.work, d.checkpoint_every)
    what = f"decoder {plan.id}"
    trainer = make_trainer(
        cfg, "train_decoder", logger, [checkpoint], progress=what, max_epochs=-1,
        max_steps=plan.steps,
    )  # fmt: skip
    before = resumed_seconds(stamp, resume)
    key = {"resume_key": plan.resume_key(), "settings": plan.settings}
    if trainer.is_global_zero:
        atomic_write_json(stamp, key)
    start = module.probe(probe)
    t0 = time.perf_counter()
    with warnings.catch_warnings(), stop_signals(what):  # SIGTERM/SIGINT: save, exit 143/130
        warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")  # on purpose
        trainer.fit(module, train_dataloaders=data, ckpt_path=str(last) if resume else None)
    if trainer.interrupted:
        raise RuntimeError(
            f"training of decoder {plan.id} was interrupted at step {trainer.global_step}; rerun "
            f"the same command to resume from {last}"
        )
    seconds = round(before + time.perf_counter() - t0, 3)
    plan.compute = {"train_seconds": seconds, "device": trainer_device(trainer)}
    if not trainer.is_global_zero:
        return None, resume, None
    atomic_write_json(stamp, {**key, "train_seconds": seconds})
    return trained_steps(trainer, last), resume, {"initial": start, "end": module.probe(probe)}


def write_checkpoint(
    cfg, index, plan: DecoderPlan, module: AdaINTraining, steps, resumed, probe, losses
):
    d = cfg.decoder
    weights = module.encoder.weights
    metadata = {
        "dataset": index.name,
        "pool": cfg.stylizer.pool,
        "list_id": plan.id,
        "train_list": list(plan.images),
        "notes": data_notes(index.name, weights),
        "loss_net": cfg.model.loss_net.arch,
        "loss_net_weights": weights,
        "layer": plan.layer,
        "style_layers": plan.style_layers,
        "in_channels": module.decoder.in_channels,
        "widths": module.decoder.widths,
        "image_size": int(d.image_size),
        "steps": steps,
        "planned_steps": plan.steps,
        "resumed": bool(resumed),
        "train_images": len(plan.images),
        "probe_losses": losses,
        "compute": plan.compute,
        "settings": plan.settings,
        "settings_hash": plan.settings_hash,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    save_decoder(plan.out, module.decoder, metadata)
    with torch.no_grad():
        probe = probe.to(module.device)
        styled = module.stylize(probe, probe.roll(1, dims=0)).clamp(0, 1).cpu()
        rebuilt = module.stylize(probe, probe, 0.0).clamp(0, 1).cpu()  # alpha 0: reconstruction
    rows = [
        ("content", [to_pil(t) for t in probe]),
        ("style", [to_pil(t) for t in probe.roll(1, dims=0)]),
        ("AdaIN", [to_pil(t) for t in styled]),
        ("alpha 0", [to_pil(t) for t in rebuilt]),
    ]
    write_grid(
        rows, plan.out.with_name(f"{plan.id}_samples.png"),
        f"AdaIN decoder {plan.id} (encoder {weights} at {plan.layer})", index.name,
    )  # fmt: skip
    log.info(
        "decoder %s: %d steps in %.0f s, loss on %d fixed images %.4g -> %.4g; wrote %s",
        plan.id, steps, plan.compute["train_seconds"], len(probe), losses["initial"]["loss"],
        losses["end"]["loss"], plan.out,
    )  # fmt: skip
