"""scripts/bench_study.py at a tiny size: every stage timed, the figures written."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "dataset.image_size=32",
    "dataset.train_per_class=60",
    "dataset.test_per_class=8",
    "dataset.scenario_scale=0.01",
    "stylizer.image_size=32",
    "stylizer.batch_size=2",
    "stylizer.max_steps=2",
    "stylizer.sample_images=2",
    "classifier.image_size=32",
    "classifier.epochs=1",
    "augment.batch_size=8",
    "data.num_workers=0",
]


@pytest.mark.slow  # minutes; `make test-slow`
def test_bench_study_times_every_stage_of_the_paper_protocol(tmp_path):
    cmd = [sys.executable, "scripts/bench_study.py", "--quick", "--root", str(tmp_path), *TINY]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "results/bench_study.json").read_text())
    stages = result["stages"]
    assert set(stages) == {"prepare_data", "train_stylizer", "augment", "classify", "report"}
    assert all(s["seconds"] > 0 for s in stages.values())
    assert stages["prepare_data"]["images"] == 4 * (60 + 8)
    # paper_synthetic is the paper's protocol: pool=class, one stylizer per class
    assert stages["train_stylizer"]["stylizers"] == 4 and stages["train_stylizer"]["steps"] == 8
    assert stages["train_stylizer"]["seconds_per_step"] > 0
    assert stages["augment"]["images"] > 0 and stages["augment"]["images_per_s"] > 0
    # scenarios x seeds x (4 arms + the unstylized control), + reweighted in the 2 biased cases
    assert stages["classify"]["heads"] == 4 * 1 * (4 + 1) + 2
    assert result["device"] == "cpu" and result["stages"]["classify"]["gpu_memory_peak_mb"] is None
    assert (tmp_path / "results/report.md").is_file()
