"""Several devices, simulated on the CPU: two processes talking over gloo (ddp_spawn).

augment's exactly-once check across two ranks lives in test_augment.py; this is the stylizer's.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stylaug.models.stylizer import load_stylizer
from tests.conftest import TINY_DATASET

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # minutes; `make test-slow`
def test_stylizer_trains_on_two_ddp_spawn_processes(tiny_root, tmp_path):
    out = tmp_path / "stylizers"
    cmd = [
        sys.executable, "-m", "stylaug.train_stylizer", "class=ocean", *TINY_DATASET,
        "stylizer.image_size=32", "stylizer.batch_size=2", "stylizer.max_steps=3",
        "stylizer.sample_images=2", "model.loss_net.weights=random", "logger=none",
        "data.num_workers=0", f"stylizer.out_dir={out}", f"paths.root={tiny_root}",
        "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp_spawn",
    ]  # fmt: skip
    env = {**os.environ, "WANDB_MODE": "disabled"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert "distributed_backend=gloo" in log and "MEMBER: 2/2" in log  # really two processes
    (path,) = (out / "ocean").glob("*.ckpt")  # written once, by rank 0
    net, meta = load_stylizer(path)
    assert meta["steps"] == 3 and meta["class"] == "ocean"
    assert meta["loss_net_weights"] == "vgg16:random-init"
    assert meta["processes"] == 2 and meta["effective_batch"] == 4  # recorded: 2 x batch 2
    # the parent saved the weights the two processes trained, and last.ckpt can resume step 3
    last = torch.load(out / "_train/ocean" / meta["list_id"] / "last.ckpt", map_location="cpu",
                      weights_only=False)  # fmt: skip
    assert last["global_step"] == 3
    trained = {
        k.removeprefix("net."): v for k, v in last["state_dict"].items() if k.startswith("net.")
    }
    for name, value in net.state_dict().items():
        assert torch.equal(value, trained[name]), name
