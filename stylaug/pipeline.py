"""``python -m stylaug.pipeline experiment=demo``: the whole study, every stage in order.

    prepare_data -> train_stylizer (per class and training list) -> train_decoder (per scenario
    training set) -> augment -> classify -> report

The style families (``augment.families`` x ``augment.alphas``, default the paper's johnson at
alpha 1) decide which networks are trained: Johnson stylizers for the johnson families, AdaIN
decoders for adain and randomized. classify runs once per alpha (``augment.alpha=...``), so every
family arm gets a row per strength; arms that do not depend on alpha find their rows and skip.

Each stage is the plain function its own command calls, with a config composed from that command's
own primary config plus the overrides given here. Every command's config has every stage's node,
so an override means the same everywhere: ``experiment=demo paths.root=DIR`` here means exactly
what it means for the single commands, and any stage can be rerun by hand at the same size.
Every stage skips work whose outputs already exist, so a second run is fast.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import hydra
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from stylaug.artifacts.dataset_names import class_override
from stylaug.artifacts.style_families import DECODER_FAMILIES, JOHNSON_FAMILIES, sets_to_make
from stylaug.augment import augment
from stylaug.classify.arms import ONLINE_ARMS
from stylaug.classify.stage import classify
from stylaug.core.config import CONFIG_DIR
from stylaug.core.interruption import exit_on_stop_signals
from stylaug.core.settings_check import check_settings
from stylaug.data.check import bad_image_summary
from stylaug.data.index import index_path, load_index
from stylaug.prepare_data.stage import prepare_data
from stylaug.report.stage import report
from stylaug.train_decoder.stage import train_decoder
from stylaug.train_stylizer.group_training import train_many

log = logging.getLogger(__name__)

STAGES = ("prepare_data", "train_stylizer", "train_decoder", "augment", "classify", "report")


def stage_overrides(overrides) -> list[str]:
    """The user's overrides minus the pipeline's own keys (the stages do not know them)."""
    return [o for o in overrides if not o.lstrip("+~").startswith("pipeline.")]


def scenario_overrides(overrides, scenario: str, chosen: str) -> list[str]:
    """``overrides`` for a stage run of ``scenario``: the user's ``scenario.*`` keys (e.g.
    ``scenario.minority=[cat]``) belong to the scenario they chose, and only reach that one."""
    if scenario == chosen:
        return list(overrides)
    return [o for o in overrides if not o.lstrip("+~").startswith("scenario.")]


def pipeline_classes(cfg: DictConfig) -> list[str]:
    """``pipeline.classes``, or (null, as for a folder dataset) the prepared dataset's classes."""
    if cfg.pipeline.classes is not None:
        return [str(c) for c in cfg.pipeline.classes]
    return list(load_index(cfg.dataset).classes)


def stylizer_jobs(cfg: DictConfig, p: DictConfig, seeds: list[int], base=()) -> list[list[str]]:
    """One train_stylizer job per class (pool=class) or per (class, scenario, seed) (pool=scenario;
    jobs whose training lists are identical are trained once: ``train_many``)."""
    classes = pipeline_classes(cfg)
    if cfg.stylizer.pool == "class":
        return [[*base, class_override(cls)] for cls in classes]
    return [
        [*scenario_overrides(base, scenario, cfg.scenario.name), class_override(cls),
         f"scenario={scenario}", f"seed={seed}"]
        for seed in seeds
        for scenario in p.scenarios
        for cls in classes
    ]  # fmt: skip


def stages_to_run(cfg: DictConfig) -> list[str]:
    """``pipeline.stages`` in order, checked, less the training stages no configured family uses
    (train_stylizer for johnson*, train_decoder for adain and randomized, offline or online)."""
    p = cfg.pipeline
    unknown = [s for s in p.stages if s not in STAGES]
    if unknown:
        raise ValueError(
            f"pipeline.stages has unknown stages {unknown}; choose from {list(STAGES)}"
        )
    families = {f for f, _ in sets_to_make(cfg.augment)}
    families |= {ONLINE_ARMS[a] for a in cfg.classifier.arms if a in ONLINE_ARMS}  # online_<family>
    unused = {
        "train_stylizer": not families & set(JOHNSON_FAMILIES),
        "train_decoder": not families & set(DECODER_FAMILIES),
    }
    return [s for s in STAGES if s in p.stages and not unused.get(s)]


def run_stage(name: str, cfg: DictConfig, overrides=()):
    """Run one stage of the study with the pipeline's settings; return what the stage returns
    (prepare_data: the index, train_stylizer: the checkpoint paths, train_decoder: the decoder
    paths, augment: its summary, classify: the new result rows, report: the Markdown).

    Needs an initialised Hydra (``hydra.main``, or the compose API's ``initialize_config_dir``):
    the stage's config is composed from that stage's own primary config.
    """
    p = cfg.pipeline
    base = stage_overrides(overrides)
    seeds = [int(s) for s in (p.seeds or cfg.augment.seeds or [cfg.seed])]

    def stage_cfg(command: str, *extra: str, scenario: str | None = None) -> DictConfig:
        own = base if scenario is None else scenario_overrides(base, scenario, cfg.scenario.name)
        return compose(config_name=command, overrides=own + list(extra))

    sets = sets_to_make(cfg.augment)
    if name == "prepare_data":
        return prepare_data(stage_cfg("prepare_data"))
    if name == "train_stylizer":
        return train_many(stylizer_jobs(cfg, p, seeds, base), int(cfg.stylizer.group_size))
    if name == "train_decoder":
        return [  # identical training sets find their decoder and skip
            train_decoder(
                stage_cfg(
                    "train_decoder", f"scenario={scenario}", f"seed={seed}", scenario=scenario
                )
            )
            for scenario in p.scenarios
            for seed in seeds
        ]
    if name == "augment":
        return augment(
            stage_cfg(
                "augment",
                f"augment.seeds=[{','.join(map(str, seeds))}]",
                f"augment.scenarios=[{','.join(p.scenarios)}]",
            )
        )
    if name == "classify":  # once per strength: arms that do not depend on alpha skip
        return [
            row
            for alpha in dict.fromkeys(alpha for _, alpha in sets)
            for scenario in p.scenarios
            for seed in seeds
            for row in classify(
                stage_cfg(
                    "classify",
                    f"scenario={scenario}",
                    f"seed={seed}",
                    f"augment.alpha={alpha}",
                    scenario=scenario,
                )
            )
        ]
    if name == "report":
        return report(stage_cfg("report"))
    raise ValueError(f"unknown stage {name!r}; choose from {list(STAGES)}")


def run_pipeline(cfg: DictConfig, overrides=()) -> str:
    """Run the stages listed in ``cfg.pipeline.stages``; return the report (Markdown).

    The output ends with the report's table: the study's timing, any bad-image warning and where
    the wandb runs are come before the report stage, and the per-run wandb lines are summed up in
    one."""
    check_settings(cfg)  # every numeric setting in range, before any work
    stages, bad_images = stages_to_run(cfg), None
    total = time.perf_counter()
    run_lines = logging.getLogger("stylaug.core.runtime.wandb")
    level = run_lines.level
    run_lines.setLevel(logging.WARNING)
    try:
        for name in (s for s in stages if s != "report"):
            start = time.perf_counter()
            log.info("==== %s ====", name)
            result = run_stage(name, cfg, overrides)
            if name == "prepare_data":
                bad_images = bad_image_summary(result, index_path(cfg.dataset))
            log.info("==== %s done in %.1f s ====", name, time.perf_counter() - start)
        log.info("pipeline: %d stages in %.1f s", len(stages), time.perf_counter() - total)
        if bad_images:  # repeated here so it is not lost among the stages' output
            log.warning(bad_images)
        where = wandb_runs(cfg)
        if where:
            log.info(where)
        if "report" not in stages:
            return ""
        log.info("==== report ====")
        return run_stage("report", cfg, overrides)
    finally:
        run_lines.setLevel(level)


def wandb_runs(cfg: DictConfig) -> str:
    """One line for every wandb run the stages wrote (offline: where, and how to upload)."""
    if not cfg.get("logger") or not str(cfg.logger._target_).endswith("WandbLogger"):
        return ""
    mode = str(cfg.logger.get("mode", "offline"))  # the config reads WANDB_MODE
    if mode == "disabled":
        return ""
    folder = Path(cfg.logger.save_dir) / "wandb"
    if mode == "offline":
        return f"wandb: runs saved offline in {folder} (upload: wandb sync {folder}/offline-run-*)"
    return f"wandb: runs logged to project {cfg.logger.project}"


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="pipeline")
def main(cfg: DictConfig) -> None:
    with exit_on_stop_signals("pipeline"):  # SIGTERM/Ctrl+C: clean up, exit 143/130
        run_pipeline(cfg, list(HydraConfig.get().overrides.task))


if __name__ == "__main__":
    main()
