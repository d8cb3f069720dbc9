"""``python -m stylaug.pipeline experiment=demo``: every stage, in order, in one process.

Each stage is the same plain function its own command calls, with the same composed config, so
``experiment=demo`` sizes them all at once. Stages skip work whose outputs already exist, so a
second run is fast.
"""

from __future__ import annotations

import logging
import time

import hydra
from omegaconf import DictConfig

from stylaug.prepare_data import prepare_data

log = logging.getLogger(__name__)


def run_pipeline(cfg: DictConfig) -> None:
    stages = [("prepare_data", lambda: prepare_data(cfg))]
    for name, stage in stages:
        start = time.perf_counter()
        log.info("== stage %s ==", name)
        stage()
        log.info("== stage %s done in %.1f s ==", name, time.perf_counter() - start)


@hydra.main(version_base="1.3", config_path="../conf", config_name="pipeline")
def main(cfg: DictConfig) -> None:
    run_pipeline(cfg)


if __name__ == "__main__":
    main()
