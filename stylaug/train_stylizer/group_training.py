"""The stylizers of a sweep trained ``stylizer.group_size`` at a time, one shared step per group.

Each network is planned, seeded and built exactly as ``train_stylizer`` builds it alone
(``StylizerPlan``, ``build_module``), draws its own batches in the order its own DataLoader would
have given them (``shuffled_batches``) and is written as the same checkpoint, with the same
identity (``write_checkpoint``); only the step is shared (``models.stylizer_group``). On a CPU each
network then ends bit for bit as it would alone on one intra-op thread; on a GPU (vmap) within
float tolerance.

Resume: every ``checkpoint_every`` steps each network's own state (weights, Adam moments, step)
goes to ``_train/<class>/<list id>/group_member.pt`` beside the same ``settings.json`` stamp as a
single run, so a killed group resumes network by network, in any grouping, and a longer
``max_steps`` continues. (A Lightning ``last.ckpt`` of a single run is not read by a group, nor a
group's state by a single run: the other path starts that network afresh.)
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose
from omegaconf import DictConfig
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from stylaug.core.cost import device_description, resumed_seconds
from stylaug.core.identity import digest
from stylaug.core.io import atomic_path, atomic_write_json
from stylaug.core.resumable_training import can_resume
from stylaug.core.runtime import finish_logger
from stylaug.data.dataset import ImageFiles, SquareView, square_tensor
from stylaug.data.images import load_rgb
from stylaug.data.index import load_index
from stylaug.models.stylizer_group import (
    GroupSteps,
    StylizerGroup,
    fit_group,
    group_loader,
    group_order,
    load_member_state,
    member_state,
    shuffled_batches,
)
from stylaug.train_stylizer.stage import (
    StylizerPlan,
    build_module,
    distinct_jobs,
    existing_settings_hash,
    probe_images,
    stylizer_logger,
    train_stylizer,
    write_checkpoint,
)

log = logging.getLogger(__name__)

MEMBER_STATE = "group_member.pt"
PRECISIONS = {"32": False, "32-true": False, "bf16-mixed": True}  # precision -> bf16 autocast
OWN = ("class", "list", "style_sha256", "style_blend")  # settings a group's networks may differ in


def on_gpu(cfg: DictConfig) -> bool:
    return cfg.trainer.get("accelerator") in ("gpu", "cuda", "auto") and torch.cuda.is_available()


def why_alone(cfg: DictConfig, plan: StylizerPlan) -> str | None:
    """Why this network cannot join a group (then it trains alone, today's way), or None."""
    if plan.processes != 1:
        return f"{plan.processes} processes (a group trains in one)"
    if str(cfg.trainer.precision) not in PRECISIONS:
        return f"precision {cfg.trainer.precision} (a group runs {sorted(PRECISIONS)})"
    if cfg.model.loss_net.weights == "random":  # its init follows each network's own seed
        return "a randomly initialised loss network (each network's own)"
    if plan.batch_size != int(cfg.stylizer.batch_size):  # a group's networks share one batch size
        return f"{len(plan.images)} training images, fewer than one batch"
    return None


def saved_state(cfg: DictConfig, plan: StylizerPlan) -> dict | None:
    """This network's state from an interrupted group run with the same resume key, or None."""
    path = plan.work / MEMBER_STATE
    if not can_resume(cfg.stylizer, plan.work / "settings.json", path, plan.resume_key()):
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


class Member:
    """One network of a group: its plan, its module built as alone, its data and saved state."""

    def __init__(self, cfg: DictConfig, plan: StylizerPlan, saved: dict | None):
        s = cfg.stylizer
        self.cfg, self.plan, self.saved = cfg, plan, saved
        self.index = load_index(cfg.dataset)
        pl.seed_everything(plan.seed, workers=True, verbose=False)
        self.module = build_module(cfg, plan)
        self.rng = torch.get_rng_state()  # where its own DataLoader would draw its order from
        self.start = min(int(saved["step"]), plan.steps) if saved else 0
        self.styles = [square_tensor(load_rgb(p), s.image_size) for p in plan.styles]
        self.files = ImageFiles(
            [self.index.abspath(r) for r in plan.images],
            SquareView(s.image_size),
            on_bad_image=cfg.data.on_bad_image,
        )
        self.probe = probe_images(self.index, plan, s)
        self.initial = self.module.probe(self.probe)  # the untrained network (before any resume)
        self.history: list[tuple[int, torch.Tensor]] = []  # (step, detached loss)

    def save(self, group, optimizer, k: int, step: int) -> None:
        with atomic_path(self.plan.work / MEMBER_STATE) as tmp:
            torch.save(member_state(group, optimizer, k, step), tmp)

    def stamp(self, **extra) -> None:
        stamp = {"resume_key": self.plan.resume_key(), "settings": self.plan.settings, **extra}
        atomic_write_json(self.plan.work / "settings.json", stamp)


def train_group(members: list[Member]) -> None:
    """Train the members (equal settings, steps and start step) together and write each one's
    checkpoint, sample grid and log."""
    cfg, plan = members[0].cfg, members[0].plan
    s, start, steps = cfg.stylizer, members[0].start, plan.steps
    device = torch.device("cuda" if on_gpu(cfg) else "cpu")
    loss_net = members[0].module.loss_net
    for m in members:  # one frozen loss network for all (pretrained: they are all the same)
        m.module.loss_net = loss_net
    group = StylizerGroup(
        [m.module.net for m in members],
        loss_net,
        [m.styles for m in members],
        [m.plan.blend for m in members],
        plan.content_layers,
        plan.style_layers,
        content_weight=s.content_weight,
        style_weight=s.style_weight,
        tv_weight=s.tv_weight,
        batched="vmap" if device.type == "cuda" else "loop",
        threads=torch.get_num_threads(),
    ).to(device)
    optimizer = group.optimizer(s.lr)
    for k, m in enumerate(members):
        if m.saved:
            load_member_state(group, optimizer, k, m.saved)
    before = [resumed_seconds(m.plan.work / "settings.json", bool(m.saved)) for m in members]
    for m in members:
        m.stamp()
    workers = int(cfg.data.num_workers)
    orders = [
        shuffled_batches(len(m.files), int(s.batch_size), m.rng, workers > 0) for m in members
    ]
    batches = GroupSteps([m.files for m in members], group_order(orders, steps))
    log_every, every = int(cfg.trainer.get("log_every_n_steps", 50)), int(s.checkpoint_every)
    bar = tqdm(total=steps, initial=start, desc=f"{len(members)} stylizers", unit="step",
               leave=False, disable=None)  # fmt: skip

    def after_step(i: int, losses: dict[str, torch.Tensor]) -> None:
        step = start + i
        bar.update()
        if step % log_every == 0:
            for k, m in enumerate(members):
                m.history.append((step, losses["loss"][k]))
        if step % every == 0 and step < steps:
            for k, m in enumerate(members):
                m.save(group, optimizer, k, step)

    log.info(
        "training %d stylizers as one group (%s, %d threads), steps %d -> %d",
        len(members), group.batched, group.threads, start, steps,
    )  # fmt: skip
    clock = time.perf_counter()
    try:
        fit_group(
            group,
            optimizer,
            group_loader(batches, start, workers),
            bf16=PRECISIONS[str(cfg.trainer.precision)],
            after_step=after_step,
        )
    finally:
        bar.close()
    share = (time.perf_counter() - clock) / len(members)  # each network's share of the group's time
    for k, m in enumerate(members):
        m.save(group, optimizer, k, steps)
        m.plan.compute = {
            "train_seconds": round(before[k] + share, 3),
            "device": device_description(device, 1),
            "group_size": len(members),
        }
        m.stamp(train_seconds=m.plan.compute["train_seconds"])
    group.cpu()
    for m in members:
        finish_member(m, steps)


def finish_member(m: Member, steps: int) -> None:
    """Log the member's losses and write its checkpoint as a single run writes it."""
    cfg, plan, module = m.cfg, m.plan, m.module
    logger = stylizer_logger(cfg, m.index.name, plan, module)
    try:
        if logger:
            for step, loss in m.history:
                logger.log_metrics({"train/loss": float(loss)}, step=step)
        run = {
            "resumed": bool(m.saved),
            "losses": {"initial": m.initial, "end": module.probe(m.probe)},
        }
        write_checkpoint(cfg, m.index, plan, module, steps, run, m.probe, logger)
    finally:
        finish_logger(logger)


def group_key(plan: StylizerPlan, start: int) -> str:
    """Networks with equal keys can share a step: every setting but their own list and style."""
    shared = {k: v for k, v in plan.settings.items() if k not in OWN}
    return digest({**shared, "start": start})


def train_grouped(cfgs: list[DictConfig], group_size: int) -> list[Path]:
    """Train (or keep, or resume) the stylizers of ``cfgs``, ``group_size`` networks per group
    (0: every network that can share a step); a network that cannot, or is left alone in its
    group with nothing to resume, trains alone (today's path, on all intra-op threads). Returns
    the checkpoint paths, in the order of ``cfgs``."""
    paths: list[Path] = []
    pending: dict[str, list[tuple[DictConfig, StylizerPlan, dict | None]]] = {}
    for cfg in cfgs:
        cls = cfg.get("class")
        plan = StylizerPlan(cfg, cls, load_index(cfg.dataset))
        paths.append(plan.out)
        if not cfg.stylizer.force and existing_settings_hash(plan.out) == plan.settings_hash:
            log.info(
                "stylizer %s/%s is already trained with these settings (skipped)", cls, plan.id
            )
            continue
        reason = why_alone(cfg, plan)
        if reason:
            log.info("stylizer %s/%s trains alone: %s", cls, plan.id, reason)
            train_stylizer(cfg)
            continue
        saved = saved_state(cfg, plan)
        start = min(int(saved["step"]), plan.steps) if saved else 0
        pending.setdefault(group_key(plan, start), []).append((cfg, plan, saved))
    size = group_size if group_size > 0 else max(map(len, pending.values()), default=1)
    for jobs in pending.values():
        for i in range(0, len(jobs), size):
            chunk = jobs[i : i + size]
            if len(chunk) == 1 and chunk[0][2] is None:
                train_stylizer(chunk[0][0])
                continue
            with warnings.catch_warnings():  # the frozen loss network is in eval mode on purpose
                warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
                train_group([Member(*job) for job in chunk])
    return paths


def train_many(jobs: list[list[str]], group_size: int = 1) -> list[Path]:
    """Train the stylizers of ``jobs`` (each a list of train_stylizer overrides; lists that are
    identical are trained once), ``group_size`` networks per step (1: one after another, each
    through Lightning; 0: all that can share a step). Needs an initialised Hydra."""
    quiet = ["++trainer.enable_progress_bar=false"]  # one bar over the jobs, not one per job
    cfgs = [compose(config_name="train_stylizer", overrides=o + quiet) for o in distinct_jobs(jobs)]
    if group_size == 1:
        with logging_redirect_tqdm():
            return [
                train_stylizer(cfg)
                for cfg in tqdm(cfgs, desc="stylizers", unit="net", leave=False, disable=None)
            ]
    with logging_redirect_tqdm():
        return train_grouped(cfgs, group_size)
