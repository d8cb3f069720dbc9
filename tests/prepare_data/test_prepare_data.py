"""The command itself, as a user runs it (a subprocess, so Hydra's @main path is exercised)."""

import json
import subprocess
import sys

import pytest

from tests.places_fixture import BAD, repo_env


def _run(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "stylaug.prepare_data", *args],
        cwd=cwd,
        env=repo_env(),  # this checkout's stylaug, not whichever one is installed
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow  # minutes; `make test-slow`
def test_prepare_data_command_writes_four_class_folders_and_is_repeatable(tmp_path):
    args = [
        "dataset=synthetic",
        "dataset.image_size=32",
        "dataset.train_per_class=4",
        "dataset.test_per_class=2",
        "logger=none",
    ]
    for _ in range(2):
        done = _run(args, tmp_path)
        assert done.returncode == 0, done.stderr
    for split, n in (("train", 4), ("test", 2)):
        folders = sorted((tmp_path / "data/synthetic" / split).iterdir())
        assert [f.name for f in folders] == ["desert_sand", "hot_spring", "ocean", "skyscraper"]
        assert all(len(list(f.glob("*.png"))) == n for f in folders)
    assert "smoke results" in done.stdout + done.stderr
    assert (tmp_path / "outputs/prepare_data").is_dir()  # Hydra run folder under paths.root


def test_bad_dataset_choice_fails_with_a_message(tmp_path):
    done = _run(["dataset=places365"], tmp_path)
    assert done.returncode != 0
    assert "dataset.source=PATH" in done.stdout + done.stderr


@pytest.mark.slow  # minutes; `make test-slow`
def test_places365_command_names_the_bad_files_or_stops_at_them(places_fixture, tmp_path):
    args = ["dataset=places365", f"dataset.source={places_fixture}", "logger=none"]
    done = _run([*args, "data.on_bad_image=error"], tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "data.on_bad_image=skip" in out
    assert all(str(places_fixture / "places365_standard" / rel) in out for rel in BAD)
    assert not (tmp_path / "data/places365/index.json").exists()

    done = _run(args, tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"{len(BAD)} unreadable image(s) left out" in out and "bad_zero_byte.jpg" in out
    meta = json.loads((tmp_path / "data/places365/index.json").read_text())["meta"]
    assert meta["bad_image_count"] == len(BAD)
