"""Every printed fix-it command runs as printed and makes what was missing: it carries the
overrides of the run that printed it (experiment=, sizes, the root, ...)."""

import contextlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import open_dict

from stylaug.augment.stage import augment
from stylaug.classify.stage import classify
from stylaug.data.index import load_index
from stylaug.prepare_data.stage import prepare_data
from stylaug.report.stage import report
from stylaug.train_stylizer.stage import train_stylizer
from tests.conftest import CONF_DIR, TINY_DATASET

REPO = Path(__file__).resolve().parents[2]
STAGES = {"train_stylizer": train_stylizer, "augment": augment, "classify": classify,
          "prepare_data": prepare_data, "report": report}  # fmt: skip


@contextlib.contextmanager
def as_command(name: str, overrides: list[str], run_dir: Path):
    """The config ``python -m stylaug.<name> OVERRIDES`` runs with, and Hydra's run state set the
    way @hydra.main sets it (so the stage sees its command line)."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name=name, overrides=list(overrides), return_hydra_config=True)
        cfg.hydra.runtime.output_dir = str(run_dir)
        HydraConfig.instance().set_config(cfg)
        try:
            with open_dict(cfg):
                del cfg["hydra"]
            yield cfg
        finally:
            HydraConfig.instance().cfg = None


def run_as_printed(command: str, run_dir: Path) -> list:
    """Run a printed ``python -m stylaug.<name> [-m] ...`` line: each job of its sweep (expanded
    by Hydra's own sweeper) through the command's stage function."""
    words = shlex.split(command)
    assert words[:2] == ["python", "-m"] and words[2].startswith("stylaug."), command
    name, args = words[2].removeprefix("stylaug."), words[3:]
    multirun = "-m" in args
    args = [a for a in args if a != "-m"]
    jobs = [args]
    if multirun:
        parsed = OverridesParser.create().parse_overrides(args)
        jobs = BasicSweeper.split_arguments(parsed, None)[0]
    results = []
    for job in jobs:
        with as_command(name, job, run_dir) as cfg:
            results.append(STAGES[name](cfg))
    return results


def printed(err) -> list[str]:
    """The commands a message prints (between backticks, or after 'first: ')."""
    text = str(err)
    found = re.findall(r"`(python -m stylaug\.[^`]+)`", text)
    return found or [text.split("first: ", 1)[1].strip()]


def sizes(root: Path, tiny_root: Path) -> list[str]:
    """A small run as a user would size it on the command line."""
    return [*TINY_DATASET, f"paths.root={root}", f"dataset.dir={tiny_root}/data/synthetic",
            "stylizer.image_size=32", "stylizer.max_steps=1", "stylizer.sample_images=2",
            "model.loss_net.weights=random", "model.backbone.weights=random",
            "data.num_workers=0", "logger=none", "augment.scenarios=[scarce]",
            "classifier.image_size=32", "classifier.epochs=2", "+trainer.enable_progress_bar=false"]  # fmt: skip


def test_augment_prints_the_train_stylizer_command_with_its_overrides_and_it_makes_them(
    tiny_root, tmp_path
):
    run = [*sizes(tmp_path, tiny_root), "augment.classes=[ocean,hot_spring]"]
    with as_command("augment", run, tmp_path) as cfg, pytest.raises(FileNotFoundError) as err:
        augment(cfg)
    (command,) = printed(err.value)
    assert command.startswith(
        "python -m stylaug.train_stylizer -m class=hot_spring,ocean scenario=scarce seed=0 "
    )
    for override in run:
        assert shlex.quote(override) in command.split(" "), override
    paths = run_as_printed(command, tmp_path)
    assert len(paths) == 2 and all(p.is_file() for p in paths)
    with as_command("augment", run, tmp_path) as cfg:
        assert augment(cfg)["written"] == 10  # scarce: 5 stylized images per class


def test_prepare_data_and_report_commands_carry_the_run(tiny_root, tmp_path):
    run = [*TINY_DATASET, f"paths.root={tmp_path}", "logger=none", "report.bootstrap=0"]
    with as_command("report", run, tmp_path) as cfg, pytest.raises(FileNotFoundError) as err:
        report(cfg)
    (command,) = printed(err.value)
    assert command.startswith("python -m stylaug.classify -m scenario=")
    assert all(o in command for o in TINY_DATASET) and f"paths.root={tmp_path}" in command
    assert "report.bootstrap=0" in command  # harmless there, and the same run
    with as_command("classify", run, tmp_path) as cfg, pytest.raises(FileNotFoundError) as err:
        classify(cfg)  # no dataset yet: the prepare_data command
    (command,) = printed(err.value)
    assert command.startswith("python -m stylaug.prepare_data ")
    run_as_printed(command, tmp_path)
    assert load_index(cfg.dataset).counts()["test"]["ocean"] == 8  # TINY_DATASET's size


@pytest.mark.slow
def test_classify_prints_what_makes_its_stylized_set_and_it_runs_as_printed(tiny_root, tmp_path):
    run = [*sizes(tmp_path, tiny_root), "scenario=scarce", "classifier.arms=[none,style]"]
    with as_command("classify", run, tmp_path) as cfg, pytest.raises(FileNotFoundError) as err:
        classify(cfg)
    train, make = printed(err.value)
    assert train.startswith("python -m stylaug.train_stylizer -m class=desert_sand,hot_spring,")
    assert make.startswith("python -m stylaug.augment seed=0 ")
    run_as_printed(train, tmp_path)
    run_as_printed(make, tmp_path)
    with as_command("classify", run, tmp_path) as cfg:
        assert [r["arm"] for r in classify(cfg)] == ["none", "style", "unstylized"]  # + control


@pytest.mark.slow
def test_the_printed_command_runs_in_a_shell_as_printed(tiny_root, tmp_path):
    env = {**os.environ, "WANDB_MODE": "disabled"}
    run = [*sizes(tmp_path, tiny_root), "augment.classes=[ocean]"]
    cmd = [sys.executable, "-m", "stylaug.augment", *run]
    first = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 1
    command = re.search(r"Train them first: (python -m .*)", first.stderr).group(1)
    made = subprocess.run(command.replace("python", sys.executable, 1), shell=True, cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    again = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
