"""core.settings_check: every numeric setting is in the table, and a bad value stops a stage
before any work, naming the key, the value and what is allowed."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from stylaug.core.config import CONFIG_DIR
from stylaug.core.settings_check import (
    RANGES,
    UNCHECKED,
    Int,
    Num,
    SettingError,
    check_settings,
    problems,
    rule_for,
)
from tests.conftest import PRIMARY_CONFIGS, TINY_DATASET, compose_cfg

PRESETS = [None, *sorted(p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))]


def numeric_leaves(node, prefix=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from numeric_leaves(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(node, list):
        if any(isinstance(v, int | float) and not isinstance(v, bool) for v in node):
            yield prefix
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield prefix


def covered(key: str) -> bool:
    import fnmatch

    parts = key.split(".")
    prefixes = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
    return any(rule_for(p) for p in prefixes) or any(
        fnmatch.fnmatchcase(key, pattern) for pattern in UNCHECKED
    )


@pytest.mark.parametrize("preset", PRESETS)
def test_every_numeric_setting_of_every_command_has_a_range(preset):
    missing = set()
    for name in PRIMARY_CONFIGS:
        overrides = [] if preset is None else [f"experiment={preset}"]
        if name == "train_stylizer":
            overrides.append("class=ocean")
        cfg = compose_cfg(name, overrides)
        data = OmegaConf.to_container(cfg, resolve=True)
        missing |= {k for k in numeric_leaves(data) if not covered(k)}
        assert problems(cfg) == [], (name, preset)  # the shipped defaults are all in range
    assert not missing, f"numeric settings without a range in core/settings_check.py: {missing}"


def test_ranges_say_what_is_allowed():
    steps = RANGES["stylizer.max_steps"]
    assert steps.fits(-1) and steps.fits(7) and not steps.fits(0) and not steps.fits(2.5)
    assert steps.describe("stylizer.max_steps") == (
        "stylizer.max_steps >= 1 (an integer), or -1 (epochs and min_steps decide)"
    )
    assert Num(0, 1, high_open=True).describe("x") == "x in [0, 1) (a number)"
    counts = RANGES["scenario.augment_per_class"]
    assert counts.fits({"default": 0, "hot_spring": 10}) and not counts.fits({"default": -5})
    assert Int(1, 5, each=True).fits([1, 5]) and not Int(1, 5, each=True).fits([0, 6])
    assert not Int(0).fits(True) and not Int(0).fits("3") and Int(0, optional="x").fits(None)


@pytest.mark.parametrize(
    "override, shown",
    [
        ("dataset.scenario_scale=-1", "dataset.scenario_scale=-1 is out of range: use "
         "dataset.scenario_scale > 0"),
        ("scenario.augment_per_class=-5", "scenario.augment_per_class=-5 is out of range"),
        ("stylizer.max_steps=0", "stylizer.max_steps=0 is out of range: use stylizer.max_steps "
         ">= 1 (an integer), or -1"),
        ("stylizer.batch_size=0", "stylizer.batch_size=0 is out of range: use "
         "stylizer.batch_size >= 1"),
        ("classifier.lr=-1", "classifier.lr=-1 is out of range: use classifier.lr > 0"),
    ],
)  # fmt: skip
def test_the_issues_bad_values_stop_every_stage_before_any_work(
    tiny_root, tmp_path, monkeypatch, override, shown
):
    from stylaug.augment.stage import augment
    from stylaug.classify import features
    from stylaug.classify.stage import classify
    from stylaug.data import index as index_module
    from stylaug.train_stylizer.stage import train_stylizer

    def no_work(*args, **kwargs):
        raise AssertionError("a stage read its data before checking its settings")

    monkeypatch.setattr(index_module.DatasetIndex, "load", no_work)
    monkeypatch.setattr(features, "extract", no_work)
    base = [*TINY_DATASET, "logger=none", f"stylizer.out_dir={tmp_path}/s",
            f"augment.out_dir={tmp_path}/a", f"classifier.results_file={tmp_path}/r.jsonl"]  # fmt: skip
    for name, stage, extra in (
        ("classify", classify, []),
        ("train_stylizer", train_stylizer, ["class=ocean"]),
        ("augment", augment, []),
    ):
        cfg = compose_cfg(name, [*base, *extra, override], tiny_root)
        with pytest.raises(SettingError) as err:
            stage(cfg)
        assert shown in str(err.value), name
    assert not any(tmp_path.iterdir())  # nothing written


def test_all_problems_are_listed_at_once(tiny_root):
    cfg = compose_cfg("classify", ["classifier.lr=-1", "classifier.epochs=0", "seed=-3"])
    with pytest.raises(SettingError, match="3 settings are out of range") as err:
        check_settings(cfg)
    assert "classifier.epochs=0" in str(err.value) and "seed=-3" in str(err.value)


def test_the_pipeline_checks_before_its_first_stage(tmp_path):
    from stylaug.pipeline import run_pipeline

    cfg = compose_cfg("pipeline", [*TINY_DATASET, "dataset.scenario_scale=0"], tmp_path)
    with pytest.raises(SettingError, match="dataset.scenario_scale=0"):
        run_pipeline(cfg)
    assert not (tmp_path / "data").exists()  # prepare_data never ran
