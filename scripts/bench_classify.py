"""Benchmark: the feature cache against pushing every image through the backbone every epoch.

A 4-class synthetic scenario of ~2000 training + validation images (balanced, 400 + 100 per
class; 400 test images) in a temporary folder, random-init ResNet-18, the `none` arm:

* cold  - ``classifier.feature_cache=false``: the backbone runs over every image every epoch;
* first - cache on but empty: one backbone pass fills it, then the head trains on features;
* warm  - cache full (a second run): the target is warm <= 5% of cold;
* peak RSS of warm runs at ~1000 and ~2000 images (the growth should be about the feature matrix).

Each measurement runs in its own process (clean peak RSS); times cover ``classify()`` only, not
Python start-up. To keep it to minutes on a 2-core CPU both sides use the same reduced settings
(default 3 epochs, 64 px into the backbone instead of 25 epochs at 224 px); the warm/cold ratio
only improves with more epochs or bigger images, since cold grows with both and warm with neither.

    .venv/bin/python scripts/bench_classify.py [--epochs 3] [--image-size 64]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from peak_memory import peak_rss_mb  # scripts/peak_memory.py  # noqa: E402
from worker_process import run_worker  # scripts/worker_process.py  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATASET = ["dataset.image_size=64", "dataset.train_per_class=500", "dataset.test_per_class=100"]


def _compose(name: str, overrides: list[str]):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "stylaug" / "conf"), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


def _worker(overrides: list[str]) -> dict:
    """One classify run in this process: seconds, peak RSS, feature-cache counters."""
    from stylaug.classify.stage import classify

    cfg = _compose("classify", overrides)
    start = time.perf_counter()
    (row,) = classify(cfg)
    seconds = time.perf_counter() - start
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": peak_rss_mb(),
        "images": sum(row["counts"]["train"].values()) + sum(row["counts"]["val"].values()),
        "feature_cache": row["feature_cache"],
        "accuracy": row["metrics"]["accuracy"],
    }


def bench_classify(epochs: int = 3, image_size: int = 64, workdir: str | None = None) -> dict:
    """Run the benchmark; return its figures as a dict (also used by scripts/bench.py)."""
    from stylaug.prepare_data.stage import prepare_data

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        root = Path(tmp)
        prepare_data(_compose("prepare_data", [*DATASET, f"paths.root={root}"]))
        common = [
            *DATASET,
            f"paths.root={root}",
            "scenario=balanced",
            "classifier.arms=[none]",
            f"classifier.epochs={epochs}",
            f"classifier.image_size={image_size}",
            "model.backbone.weights=random",
            "logger=none",
            "classifier.force=true",
            "dataset.scenario_scale=0.1",
        ]
        cold = run_worker(__file__, [*common, "classifier.feature_cache=false"])
        first = run_worker(__file__, common)
        warm = run_worker(__file__, common)
        warm_half = run_worker(__file__, [*common[:-1], "dataset.scenario_scale=0.05"])
    feature_mb = lambda n: n * 512 * 4 / 2**20  # noqa: E731
    return {
        "images_train_val": cold["images"],
        "epochs": epochs,
        "image_size": image_size,
        "cold_s": cold["seconds"],
        "first_cached_s": first["seconds"],
        "warm_s": warm["seconds"],
        "warm_over_cold": round(warm["seconds"] / cold["seconds"], 4),
        "cold_accuracy": cold["accuracy"],
        "warm_accuracy": warm["accuracy"],
        "peak_rss_mb": {
            "cold": cold["peak_rss_mb"],
            "first": first["peak_rss_mb"],
            "warm": warm["peak_rss_mb"],
            "warm_half": warm_half["peak_rss_mb"],
        },
        "warm_rss_growth_mb": round(warm["peak_rss_mb"] - warm_half["peak_rss_mb"], 1),
        "feature_matrix_growth_mb": round(feature_mb(warm["images"] - warm_half["images"]), 1),
        "images_half": warm_half["images"],
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(sys.argv[2:])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args()
    figures = bench_classify(args.epochs, args.image_size)
    for k, v in figures.items():
        print(f"{k:>26}: {v}")
    target = "met" if figures["warm_over_cold"] <= 0.05 else "NOT met"
    print(f"target warm <= 5% of cold: {target} ({100 * figures['warm_over_cold']:.1f}%)")


if __name__ == "__main__":
    main()
