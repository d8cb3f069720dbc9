"""A sweep with many ordinary overrides starts, and each job folder is short and records its
overrides (it was named after all of them: "OSError: [Errno 36] File name too long")."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import TINY_DATASET

REPO = Path(__file__).resolve().parents[2]
SIZES = [
    *TINY_DATASET, "stylizer.image_size=32", "stylizer.max_steps=200", "stylizer.batch_size=4",
    "stylizer.checkpoint_every=100", "decoder.image_size=32", "decoder.max_steps=200",
    "augment.batch_size=8", "classifier.image_size=32", "classifier.epochs=5",
    "classifier.batch_size=16", "model.loss_net.weights=random", "model.backbone.weights=random",
    "report.bootstrap=100", "data.num_workers=0", "logger=none",
]  # fmt: skip


@pytest.mark.slow  # minutes; `make test-slow`
def test_a_sweep_with_many_overrides_runs_in_short_folders_that_record_them(tmp_path):
    assert len("_".join(SIZES)) > 255  # more than one folder name may hold
    cmd = [sys.executable, "-m", "stylaug.prepare_data", "-m", "dataset.seed=0,1", *SIZES,
           f"paths.root={tmp_path}"]  # fmt: skip
    env = {**os.environ, "WANDB_MODE": "disabled"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (sweep,) = (tmp_path / "multirun/prepare_data").iterdir()
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0", "1"]
    for job in jobs:
        recorded = yaml.safe_load((sweep / job / ".hydra/overrides.yaml").read_text())
        assert recorded == [f"dataset.seed={job}", *SIZES, f"paths.root={tmp_path}"]
