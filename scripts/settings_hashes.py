"""Print the settings hashes that decide whether a stylizer and a decoder are reused, for one fixed
tiny setup: run it at two commits (e.g. before and after moving code) and compare. Equal hashes
mean a previous run's checkpoints are found and reused; a change means they are trained again.

    .venv/bin/python scripts/settings_hashes.py /tmp/hash_root
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from stylaug.core.config import CONFIG_DIR
from stylaug.data.index import load_index
from stylaug.prepare_data.stage import prepare_data
from stylaug.train_decoder.stage import DecoderPlan
from stylaug.train_stylizer.stage import StylizerPlan

TINY = ["dataset.image_size=32", "dataset.train_per_class=60", "dataset.test_per_class=8",
        "dataset.scenario_scale=0.01", "logger=none"]  # fmt: skip


def main(root: str) -> dict:
    overrides = [*TINY, f"paths.root={root}"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        if not (Path(root) / "data").exists():
            prepare_data(compose("prepare_data", overrides))
        cfg = compose("train_stylizer", [*overrides, "class=ocean", "scenario=scarce", "seed=1"])
        index = load_index(cfg.dataset)
        stylizer = StylizerPlan(cfg, "ocean", index).settings_hash
        cfg = compose("train_decoder", [*overrides, "scenario=scarce", "seed=1"])
        return {"stylizer": stylizer, "decoder": DecoderPlan(cfg, index).settings_hash}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/stylaug_hash_root")))
