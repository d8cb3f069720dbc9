"""The command itself, as a user runs it (a subprocess, so Hydra's @main path is exercised)."""

import subprocess
import sys


def test_prepare_data_command_writes_four_class_folders_and_is_repeatable(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "stylaug.prepare_data",
        "dataset=synthetic",
        "dataset.image_size=32",
        "dataset.train_per_class=4",
        "dataset.test_per_class=2",
        "logger=none",
    ]
    for _ in range(2):
        done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    for split, n in (("train", 4), ("test", 2)):
        folders = sorted((tmp_path / "data/synthetic" / split).iterdir())
        assert [f.name for f in folders] == ["desert_sand", "hot_spring", "ocean", "skyscraper"]
        assert all(len(list(f.glob("*.png"))) == n for f in folders)
    assert "smoke results" in done.stdout + done.stderr
    assert (tmp_path / "outputs/prepare_data").is_dir()  # Hydra run folder under paths.root


def test_bad_dataset_choice_fails_with_a_message(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "stylaug.prepare_data", "dataset=places365"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "dataset.source=PATH" in done.stdout + done.stderr
