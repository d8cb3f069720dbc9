"""``python -m stylaug.pipeline experiment=demo``: the whole study, every stage in order.

    prepare_data -> train_stylizer (one per class) -> augment -> classify (scenario x seed) -> report

Each stage is the plain function its own command calls, with a config composed from that command's
own primary config plus the overrides given here, so ``experiment=demo paths.root=DIR`` means
exactly what it means for the single commands, and any stage can be rerun by hand at the same size.
Every stage skips work whose outputs already exist, so a second run is fast.
"""

from __future__ import annotations

import logging
import time

import hydra
from hydra import compose
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from stylaug.augment import augment
from stylaug.classify import classify
from stylaug.prepare_data import prepare_data
from stylaug.report import report
from stylaug.train_stylizer import train_stylizer

log = logging.getLogger(__name__)

_MISSING = object()
STAGES = ("prepare_data", "train_stylizer", "augment", "classify", "report")


def stage_overrides(overrides) -> list[str]:
    """The user's overrides minus the pipeline's own keys (the stages do not know them)."""
    return [o for o in overrides if not o.lstrip("+~").startswith("pipeline.")]


def _is_group(key: str) -> bool:
    loader = GlobalHydra.instance().config_loader()
    return "/" in key or bool(loader.get_group_options(key))


def forwardable(overrides) -> list[str]:
    """Rewrite value overrides as ``++key=value`` so one stage's keys (``stylizer.max_steps``) do
    not break the composition of another stage that lacks them; group choices stay as they are."""
    out = []
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        line = override.input_line
        if (
            override.is_delete()
            or override.is_add()
            or override.is_force_add()
            or _is_group(override.key_or_group)
        ):
            out.append(line)
        else:
            out.append("++" + line)
    return out


def check_keys_exist(configs: dict[str, DictConfig], overrides) -> None:
    """A value override no stage knows is a typo: say so instead of silently adding it."""
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group
        if override.is_delete() or override.is_add() or override.is_force_add() or _is_group(key):
            continue
        if not any(
            OmegaConf.select(c, key, default=_MISSING) is not _MISSING for c in configs.values()
        ):
            raise ValueError(f"override {override.input_line!r}: no stage has a key {key!r}")


def run_pipeline(cfg: DictConfig, overrides=()) -> str:
    """Run the stages listed in ``cfg.pipeline.stages``; return the report table (Markdown).

    Needs an initialised Hydra (``@hydra.main`` or the compose API's ``initialize_*``), since each
    stage's config is composed from its own primary config.
    """
    p = cfg.pipeline
    unknown = [s for s in p.stages if s not in STAGES]
    if unknown:
        raise ValueError(
            f"pipeline.stages has unknown stages {unknown}; choose from {list(STAGES)}"
        )
    user = stage_overrides(overrides)
    base = forwardable(user)
    seeds = [int(s) for s in p.seeds]
    seed_list = "[" + ",".join(map(str, seeds)) + "]"

    def stage_cfg(name: str, *extra: str) -> DictConfig:
        return compose(config_name=name, overrides=base + list(extra))

    groups_only = [o for o, f in zip(user, base, strict=True) if o == f]  # group choices, +, ~
    extra = {"train_stylizer": ["class=ocean"]}  # a required key, for the check only
    check_keys_exist(
        {n: compose(config_name=n, overrides=groups_only + extra.get(n, [])) for n in STAGES}, user
    )

    jobs = {
        "prepare_data": lambda: [prepare_data(stage_cfg("prepare_data"))],
        "train_stylizer": lambda: [
            train_stylizer(stage_cfg("train_stylizer", f"class={c}")) for c in p.classes
        ],
        "augment": lambda: [
            augment(
                stage_cfg(
                    "augment",
                    f"augment.seeds={seed_list}",
                    f"augment.scenarios=[{','.join(p.scenarios)}]",
                )
            )
        ],
        "classify": lambda: [
            classify(stage_cfg("classify", f"scenario={s}", f"seed={seed}"))
            for s in p.scenarios
            for seed in seeds
        ],
        "report": lambda: [report(stage_cfg("report"))],
    }
    table = ""
    total = time.perf_counter()
    for name in STAGES:
        if name not in p.stages:
            continue
        start = time.perf_counter()
        log.info("==== %s ====", name)
        outputs = jobs[name]()
        log.info("==== %s done in %.1f s ====", name, time.perf_counter() - start)
        if name == "report":
            table = outputs[0]
    log.info("pipeline finished in %.1f s", time.perf_counter() - total)
    return table


@hydra.main(version_base="1.3", config_path="../conf", config_name="pipeline")
def main(cfg: DictConfig) -> None:
    overrides = list(HydraConfig.get().overrides.task)
    if run_pipeline(cfg, overrides):
        log.info("report: %s/report.{md,csv,png}", cfg.paths.results_dir)


if __name__ == "__main__":
    main()
