"""Lightning training that a kill does not waste, measured in steps: shared by ``train_stylizer``
and ``train_decoder``, which train their networks the same way.

Checkpoints appear by rename (``AtomicCheckpoint``), so a killed run never leaves a torn
``last.ckpt``, and carry a digest checked before a resume, so a damaged one is never resumed from;
SIGTERM or SIGINT stop training at the end of a step and save it (``stylaug.core.interruption``).
A ``settings.json`` stamp beside it says which settings wrote it, and a rerun resumes only from a
``last.ckpt`` whose stamp has its own resume key (``can_resume``). Training
length is counted in steps of a full batch per process (``planned_steps``, ``world_size``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint

from stylaug.core.identity import digest
from stylaug.core.integrity import read_stamp, tensor_digest
from stylaug.core.interruption import Interrupted
from stylaug.core.io import atomic_path

log = logging.getLogger(__name__)

DIGEST_KEY = "stylaug_sha256"  # in every checkpoint AtomicCheckpoint writes
DIGESTED = ("state_dict", "optimizer_states", "global_step", "epoch")


class AtomicCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose files appear by rename, so a killed run never leaves a torn last.ckpt,
    carry the digest of their weights and optimizer state (checked before a resume: ``intact``),
    and are saved when a stop signal interrupts training, so the rerun resumes at that step."""

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint[DIGEST_KEY] = tensor_digest({k: checkpoint.get(k) for k in DIGESTED})

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if (
            isinstance(exception, Interrupted)
            and self._last_global_step_saved != trainer.global_step
        ):
            path = Path(self.dirpath) / "last.ckpt"
            self._save_checkpoint(trainer, str(path))
            log.info("saved %s at step %d", path, trainer.global_step)

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


def step_checkpoint(work: Path, every: int) -> AtomicCheckpoint:
    """``last.ckpt`` (and a step checkpoint every ``every`` steps) in the work folder ``work``."""
    return AtomicCheckpoint(
        dirpath=work,
        filename="step{step}",
        save_last=True,
        save_top_k=0,
        every_n_train_steps=int(every),
        enable_version_counter=False,
    )


def can_resume(node: DictConfig, stamp: Path, last: Path, resume_key: str) -> bool:
    """Resume from ``last``: allowed (``resume``, not ``force``), the interrupted run's ``stamp``
    was written with the same resume key (only the training length may differ), and ``last`` is
    intact (a damaged one is named, deleted, and training starts over)."""
    if not (node.resume and not node.force and last.is_file()):
        return False
    recorded = read_stamp(stamp)
    return bool(recorded and recorded.get("resume_key") == resume_key and intact(last))


def intact(checkpoint: Path) -> bool:
    """Whether a Lightning checkpoint reads back with the digest it was saved with (one saved
    before digests were recorded only has to read back); a damaged one is deleted."""
    try:
        obj = torch.load(checkpoint, map_location="cpu", weights_only=False)
        recorded = obj.get(DIGEST_KEY, None) if isinstance(obj, dict) else ""
        if recorded is None or recorded == tensor_digest({k: obj.get(k) for k in DIGESTED}):
            return True
        why = "its weights or optimizer state differ from the digest recorded at save"
    except Exception as err:  # torch's message for a cut file names no file
        why = f"torch cannot read it ({type(err).__name__}: {err})"
    log.warning("%s is damaged (%s): deleted, training starts over", checkpoint, why)
    checkpoint.unlink(missing_ok=True)
    return False


def trained_steps(trainer: pl.Trainer, last: Path) -> int:
    """Steps trained so far: the trainer's count, or (ddp_spawn parent, where it stays 0) the one
    rank 0 saved in last.ckpt."""
    if trainer.global_step or not last.is_file():
        return int(trainer.global_step)
    return int(torch.load(last, map_location="cpu", weights_only=False)["global_step"])


def world_size(trainer_cfg) -> int:
    """Processes a trainer config asks for (devices x nodes): each gets a full batch."""
    devices = trainer_cfg.get("devices", 1)
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    if isinstance(devices, int) and devices > 0:
        count = devices
    elif isinstance(devices, int) or devices == "auto":  # -1 / auto: every visible GPU, else 1
        gpu = trainer_cfg.get("accelerator") in ("gpu", "cuda", "auto")
        count = torch.cuda.device_count() if gpu and torch.cuda.is_available() else 1
    else:
        count = len(devices)
    return max(1, count) * int(trainer_cfg.get("num_nodes", 1) or 1)


def planned_steps(s: DictConfig, images: int, processes: int) -> int:
    """max_steps if > 0; else epochs over the list, but never fewer than min_steps."""
    if int(s.max_steps) > 0:
        return int(s.max_steps)
    per_epoch = images // (int(s.batch_size) * processes)
    steps = max(int(s.epochs) * per_epoch, int(s.min_steps))
    if steps < 1:
        raise ValueError(
            f"epochs={s.epochs} over {images} images and min_steps={s.min_steps} give no training "
            "step; raise epochs or min_steps, or set max_steps >= 1"
        )
    return steps


LENGTH_KEYS = ("epochs", "max_steps", "min_steps")  # changing these continues training


def resume_key(settings: dict, node: str) -> str:
    """What a longer run may continue from: the settings less the training length (the length
    keys of ``settings[node]`` and the planned steps)."""
    trained = {k: v for k, v in settings[node].items() if k not in LENGTH_KEYS}
    return digest({**settings, node: trained, "steps": None})
