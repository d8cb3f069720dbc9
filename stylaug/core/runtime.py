"""What every stage's entry function needs from its config: a logger, a Lightning trainer, a run
folder, and a clear line in the log about which weights and data the numbers come from."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from stylaug.core.interruption import StopAtStepEnd
from stylaug.core.progress import RunProgress

log = logging.getLogger(__name__)
run_log = logging.getLogger(f"{__name__}.wandb")  # the pipeline quiets it and says it once

# Lightning's start-up chatter (accelerator lines, seed lines, the litlogger tip) repeats for every
# stylizer and every classifier head and would bury the study's own log; everything else it says
# (warnings, the distributed set-up of a DDP run) still shows.
CHATTER = ("GPU available", "TPU available", "HPU available", "💡 Tip", "Seed set to",
           "`Trainer.fit` stopped")  # fmt: skip


def _not_chatter(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(CHATTER)


for _name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero",
              "lightning_fabric.utilities.seed"):  # fmt: skip
    logging.getLogger(_name).addFilter(_not_chatter)
warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")


def run_dir(cfg: DictConfig, stage: str) -> Path:
    """Hydra's run folder when running under @hydra.main, else outputs/<stage> under paths.root."""
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    path = Path(cfg.paths.root) / "outputs" / stage
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_logger(
    cfg: DictConfig, name: str, group: str, job_type: str, extra_config: dict | None = None
):
    """Instantiate ``cfg.logger`` (wandb, csv, or none -> False) for one run.

    wandb runs are named and grouped so a multirun gives one run per job; call
    ``finish_logger`` at the end of the job so the next job does not reuse the run.
    """
    if not cfg.get("logger"):
        return False
    target = cfg.logger._target_
    kwargs = {}
    if target.endswith("WandbLogger"):
        kwargs = {
            "name": name,
            "group": group,
            "job_type": job_type,
            "save_dir": str(Path(cfg.logger.save_dir)),
            "reinit": "finish_previous",
        }
        Path(cfg.logger.save_dir).mkdir(parents=True, exist_ok=True)
    elif target.endswith("CSVLogger"):
        kwargs = {"name": f"{job_type}/{name}"}
    logger = hydra.utils.instantiate(cfg.logger, **kwargs)
    if target.endswith("WandbLogger"):  # Lightning passes anonymous=None, which wandb >= 0.19
        logger._wandb_init.pop("anonymous", None)  # warns about on every run, even disabled
    config = OmegaConf.to_container(cfg, resolve=True)
    if extra_config:
        config.update(extra_config)
    logger.log_hyperparams(config)
    return logger


def finish_logger(logger) -> None:
    """End the job's run (so the next job does not reuse it), with one line saying where it is."""
    if logger and type(logger).__name__ == "WandbLogger":
        import wandb

        run = wandb.run
        if run is not None and run.settings.mode != "disabled":
            offline = run.settings.mode == "offline"
            where = Path(run.dir).parent
            run_log.info(
                "wandb: run %s %s%s", run.name, f"saved offline in {where}" if offline else run.url,
                f" (upload: wandb sync {where})" if offline else "",
            )  # fmt: skip
        wandb.finish()


def make_trainer(
    cfg: DictConfig,
    stage: str,
    logger=False,
    callbacks=(),
    progress: str | None = None,
    **overrides,
) -> pl.Trainer:
    """``cfg.trainer`` with the stage's callbacks and overrides (e.g. max_steps, precision).

    Every trainer stops at the end of a step on SIGTERM or SIGINT inside ``stop_signals``
    (``StopAtStepEnd``). ``progress``: what the run is called in its own progress display over
    the whole run (``RunProgress``: a bar in a terminal, log lines in a file), which replaces
    Lightning's per-epoch bar."""
    params = OmegaConf.to_container(cfg.trainer, resolve=True)
    params.update(overrides)
    params["default_root_dir"] = str(run_dir(cfg, stage))
    callbacks = [*callbacks, StopAtStepEnd()]
    if progress is not None:
        callbacks.append(RunProgress(progress, bar=params.get("enable_progress_bar", True)))
        params["enable_progress_bar"] = False
    return hydra.utils.instantiate(params, logger=logger, callbacks=callbacks, _convert_="all")


def device_for(cfg: DictConfig) -> torch.device:
    """The device a command that runs its own loop (no Lightning trainer) should use."""
    accelerator = cfg.trainer.get("accelerator", "auto")
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")
