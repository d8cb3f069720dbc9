"""Benchmark: a robustness evaluation with an empty feature cache against a second one.

The demo's setting (synthetic 64 px images, 100 test images per class, EfficientNet-Lite0 with
its ImageNet weights at 128 px) in a temporary folder. One evaluation = the test split under every
(corruption, severity) of ``classifier.robustness`` as features (``CorruptedTestSet``) plus a head
evaluated on all of them:

* first  - empty cache: every test image is corrupted and pushed through the backbone;
* second - another process, same cache: every corrupted feature is read back (the target: at
  least 10x faster than the first).

Each evaluation runs in its own process, as a later classify job would; times cover the
evaluation only, not Python start-up or loading the backbone.

    .venv/bin/python scripts/bench_robustness.py [--corruptions gaussian_noise defocus_blur fog contrast]
        [--severities 1 3 5] [--test-per-class 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from worker_process import run_worker  # scripts/worker_process.py  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEMO_SUBSET = ["gaussian_noise", "defocus_blur", "fog", "contrast"]


def _compose(name: str, overrides: list[str]):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "stylaug" / "conf"), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


def _overrides(root: str, corruptions, severities, test_per_class: int) -> list[str]:
    return [
        "experiment=demo",
        f"paths.root={root}",
        f"dataset.test_per_class={test_per_class}",
        f"classifier.robustness.corruptions=[{','.join(corruptions)}]",
        f"classifier.robustness.severities=[{','.join(map(str, severities))}]",
        "logger=none",
    ]


def _worker(overrides: list[str]) -> dict:
    """One robustness evaluation in this process: seconds and cache counters."""
    from stylaug.classify.corrupted_test_sets import CorruptedTestSet, robustness_spec
    from stylaug.classify.features import ScenarioFeatures, load_backbone
    from stylaug.classify.linear_head import LinearHead
    from stylaug.data.index import load_index
    from stylaug.data.scenarios import sample_scenario

    cfg = _compose("classify", overrides)
    index = load_index(cfg.dataset)
    split = sample_scenario(index, cfg.scenario, 0)
    backbone, weights = load_backbone(cfg.model.backbone)
    features = ScenarioFeatures(cfg, backbone, weights, use_cache=True)
    items = [(index.abspath(p), k) for k, c in enumerate(index.classes) for p in split.test[c]]
    head = LinearHead(backbone.dim, len(index.classes), 1e-3, 1e-3)
    start = time.perf_counter()
    test = CorruptedTestSet(features, items, robustness_spec(cfg.classifier), index.classes)
    rob = test.evaluate(head)
    return {
        "seconds": round(time.perf_counter() - start, 3),
        "conditions": len(test.sets),
        "images": rob["images"],
        "cache": test.stats,
    }


def bench_robustness(corruptions=DEMO_SUBSET, severities=(1, 3, 5), test_per_class=100) -> dict:
    from stylaug.prepare_data.stage import prepare_data

    with tempfile.TemporaryDirectory() as tmp:
        overrides = _overrides(tmp, corruptions, severities, test_per_class)
        prepare_data(_compose("prepare_data", overrides))
        first, second = run_worker(__file__, overrides), run_worker(__file__, overrides)
    return {
        "first": first,
        "second": second,
        "speedup": round(first["seconds"] / max(second["seconds"], 1e-9), 1),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(sys.argv[2:])))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corruptions", nargs="+", default=DEMO_SUBSET)
    p.add_argument("--severities", nargs="+", type=int, default=[1, 3, 5])
    p.add_argument("--test-per-class", type=int, default=100)
    a = p.parse_args()
    res = bench_robustness(a.corruptions, a.severities, a.test_per_class)
    f, s = res["first"], res["second"]
    print(
        f"robustness evaluation, {f['conditions']} corrupted test sets x {f['images']} images:\n"
        f"  first  (empty cache): {f['seconds']:8.2f} s  {f['cache']}\n"
        f"  second (warm cache):  {s['seconds']:8.2f} s  {s['cache']}\n"
        f"  speed-up: {res['speedup']}x (target >= 10x)"
    )


if __name__ == "__main__":
    main()
