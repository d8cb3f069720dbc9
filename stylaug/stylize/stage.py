"""``python -m stylaug.stylize``: stylize arbitrary images.

* ``method=gatys content=PATH style=PATH output=PATH`` optimises the pixels of one image (Gatys et
  al. 2016): ``stylaug.stylize.gatys_run``;
* ``method=johnson checkpoint=PATH input=FILE_OR_DIR output=DIR`` applies a trained stylizer to an
  image or a folder: ``stylaug.stylize.johnson_run``.

``preserve_color=true`` keeps the content's colours in both. Final losses, counts and the result
image also go to the experiment logger (wandb offline by default).
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig
from PIL import Image

from stylaug.core.runtime import finish_logger, make_logger
from stylaug.core.settings_check import check_settings
from stylaug.stylize import gatys_run as stylize_gatys
from stylaug.stylize import johnson_run as stylize_johnson


def log_result(cfg: DictConfig, result: dict) -> None:
    """Final losses / counts and the written image into the experiment logger (wandb offline by
    default); the files beside the output stay the record, the logger is for browsing."""
    out = Path(result["output"])
    logger = make_logger(cfg, name=out.stem, group="stylize", job_type=f"stylize-{cfg.method}")
    if not logger:
        return
    try:
        if cfg.method == "johnson":
            logger.log_metrics(
                {
                    "johnson/written": len(result["written"]),
                    "johnson/skipped": len(result["skipped"]),
                }
            )
            image = out / "compare.png"
        else:
            for i, path in enumerate(result.get("variants") or [out]):
                record = json.loads(stylize_gatys.history_path(Path(path)).read_text())
                final = record["history"][-1]
                logger.log_metrics(
                    {f"gatys/final_{k}": v for k, v in final.items() if k != "iter"}, step=i
                )
            image = out
        if image.exists() and hasattr(logger, "log_image"):
            logger.log_image(key=f"stylize/{cfg.method}", images=[Image.open(image)])
    finally:
        logger.finalize("success")  # CSVLogger writes its file here
        finish_logger(logger)


def stylize(cfg: DictConfig) -> dict:
    check_settings(cfg)  # every numeric setting in range, before any work
    if cfg.method == "gatys":
        result = stylize_gatys.run(cfg)
    elif cfg.method == "johnson":
        result = stylize_johnson.run(cfg)
    else:
        raise ValueError(f"method={cfg.method!r} is not valid; use method=gatys or method=johnson")
    log_result(cfg, result)
    return result
