"""Benchmark: one classifier head on cached features, Lightning (as ``classify`` trains it) against a
plain PyTorch loop doing the same computation.

Synthetic random features (x, label, ok; 1% of rows ok=False) at two sizes:

* paper - 16000 training, 4000 validation, 400 test features of D=512 (ResNet-18), 25 epochs;
* demo  - 2000 training, 500 validation, 400 test features of D=1280 (EfficientNet-Lite0), 15 epochs.

Both sides train the same head (batch 50, Adam 1e-3, weight decay 1e-3, 4 classes), keep the
best-validation epoch and predict the test set:

* lightning - ``stylaug.classify.arm_training.fit_lightning``, as ``train_and_test`` ran every head before:
  Trainer construction + fit + predict;
* plain     - ``stylaug.classify.arm_training.fit_plain`` (``fit_on_features`` + ``predict_on_features``),
  what ``train_and_test`` runs for a head on cached features: the same init, order
  (``EpochShuffle``), steps and best-epoch rule; its predictions are checked against Lightning's.

Both run in this process, alternating, ``--repeats`` times; each keeps its best (the machine may be
shared). Fixed start-up is a run of one epoch on one batch of each set (one training step, one
validation and one test batch: Trainer construction, fit and predict set-up); per step = (full run -
start-up) / training steps, the epochs' validation included. CPU seconds of this process are
reported beside wall seconds, as they are less disturbed by other load.

    WANDB_MODE=disabled .venv/bin/python scripts/bench_heads.py [--sizes demo paper] [--repeats 3]
        [--views 0]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import torch
from torch.utils.data import TensorDataset

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's stylaug, whichever one is installed
CLASSES = ["a", "b", "c", "d"]
# name: (train, val, test, dim, epochs)
SIZES = {
    "paper": (16000, 4000, 400, 512, 25),
    "demo": (2000, 500, 400, 1280, 15),
}


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "stylaug" / "conf"), version_base="1.3"):
        return compose(config_name="classify", overrides=overrides)


def features(n: int, dim: int, views: int, seed: int) -> TensorDataset:
    """Random (x, label, ok) with a little class signal; every 100th row is ok=False."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(len(CLASSES), (n,), generator=g)
    x = torch.randn((n, views, dim) if views else (n, dim), generator=g)
    hot = 0.5 * torch.nn.functional.one_hot(y, len(CLASSES))
    x[..., : len(CLASSES)] += hot[:, None] if views else hot
    ok = torch.arange(n) % 100 != 7
    return TensorDataset(x, y, ok)


def arm_data(size: str, views: int):
    from stylaug.classify.arm_training import ArmData

    train, val, test, dim, _ = SIZES[size]
    return ArmData(
        features(train, dim, views, 1), features(val, dim, 0, 2), features(test, dim, 0, 3), None, 0
    )


def job(size: str, epochs: int, root: str) -> SimpleNamespace:
    """What ``train_and_test`` reads from a ``ArmJob``: the config, the backbone's width, the classes."""
    cfg = _compose(
        [
            "trainer=cpu",
            f"classifier.epochs={epochs}",
            "logger=none",
            "seed=0",
            f"paths.root={root}",
        ]
    )
    dim = SIZES[size][3]
    return SimpleNamespace(
        cfg=cfg, features=SimpleNamespace(backbone=SimpleNamespace(dim=dim)), classes=CLASSES
    )


def lightning(job_, data):
    """The Lightning path, as ``train_and_test`` ran it for every head before bench_heads."""
    from stylaug.classify.arm_training import fit_lightning, new_head

    head = new_head(job_, "none", data)
    return head, fit_lightning(job_, head, data, False)[0]


def plain(job_, data):
    """The plain loop ``train_and_test`` now runs for a head on cached features."""
    from stylaug.classify.arm_training import fit_plain, new_head

    head = new_head(job_, "none", data)
    return head, fit_plain(job_, head, data, False)[0]


def timed(fn, *args) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, what fn returned)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, out


def tiny(data):
    """One batch of each set: a 1-epoch run on it is (nearly) all fixed start-up."""
    from stylaug.classify.arm_training import ArmData

    first = (TensorDataset(*(t[:50] for t in d.tensors)) for d in (data.train, data.val, data.test))
    return ArmData(*first, None, 0)


def bench_size(size: str, repeats: int, views: int, root: str) -> dict:
    """Best-of-repeats wall and CPU seconds of both paths: the full run and the 1-step run."""
    train, _, _, _, epochs = SIZES[size]
    data = arm_data(size, views)
    runs = {"full": (job(size, epochs, root), data), "startup": (job(size, 1, root), tiny(data))}
    best: dict[str, tuple[float, float]] = {}
    outputs = {}
    for _ in range(repeats):
        for name, fn in (("lightning", lightning), ("plain", plain)):
            for length, (j, d) in runs.items():
                wall, cpu, outputs[name, length] = timed(fn, j, d)
                key = f"{name}_{length}"
                prev = best.get(key, (wall, cpu))
                best[key] = (min(prev[0], wall), min(prev[1], cpu))
    (lh, lp), (ph, pp) = outputs["lightning", "full"], outputs["plain", "full"]
    steps = epochs * -(-train // 50)
    out = {"size": size, "train": train, "dim": SIZES[size][3], "views": views, "epochs": epochs}
    for name in ("lightning", "plain"):
        for i, unit in enumerate(("wall", "cpu")):
            t_full, t_start = best[f"{name}_full"][i], best[f"{name}_startup"][i]
            out[f"{name}_{unit}_s"] = round(t_full, 3)
            out[f"{name}_{unit}_startup_s"] = round(t_start, 4)
            out[f"{name}_{unit}_per_step_ms"] = round(1000 * (t_full - t_start) / steps, 4)
        out[f"{name}_startup_pct"] = round(
            100 * best[f"{name}_startup"][0] / out[f"{name}_wall_s"], 1
        )
    out["ratio_wall"] = round(out["lightning_wall_s"] / out["plain_wall_s"], 2)
    out["ratio_cpu"] = round(out["lightning_cpu_s"] / out["plain_cpu_s"], 2)
    out["same_predictions"] = bool((lp == pp).all())
    out["val_history_max_diff"] = max(
        abs(a - b) for a, b in zip(lh.val_history, ph.val_history, strict=True)
    )
    return out


def report(r: dict) -> None:
    print(f"{r['size']} ({r['train']} x {r['dim']}, {r['epochs']} epochs, views {r['views']}):")
    for name in ("lightning", "plain"):
        print(
            f"  {name:>9}: {r[f'{name}_wall_s']:7.3f} s wall ({r[f'{name}_cpu_s']:7.3f} s CPU); "
            f"start-up {r[f'{name}_wall_startup_s']:.4f} s ({r[f'{name}_startup_pct']}%), "
            f"per step {r[f'{name}_wall_per_step_ms']:.4f} ms"
        )
    print(
        f"  lightning / plain: {r['ratio_wall']}x wall, {r['ratio_cpu']}x CPU; same predictions "
        f"{r['same_predictions']}, val_history max diff {r['val_history_max_diff']:.2e}",
        flush=True,
    )


def bench_heads(sizes=("demo", "paper"), repeats: int = 3, views: int = 0) -> dict:
    """{size: figures}, each size's line printed as it is done (also used by scripts/bench.py)."""
    import pytorch_lightning  # noqa: F401  (its import sets its loggers' level: quieten them after)

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    results = {}
    with tempfile.TemporaryDirectory() as root, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for size in sizes:
            results[size] = bench_size(size, repeats, views, root)
            report(results[size])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=["demo", "paper"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--views", type=int, default=0, help="K cached views per feature (0: none)")
    args = parser.parse_args()
    results = bench_heads(args.sizes, args.repeats, args.views)
    print(json.dumps({"bench_heads": results, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
