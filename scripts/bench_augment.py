"""augment throughput: end to end (decode + stylize + encode + write) vs the bare network forward.

    WANDB_MODE=disabled .venv/bin/python scripts/bench_augment.py

Each case runs in its own subprocess (so its peak RSS is its own) on a synthetic dataset made for
it, with untrained stylizers (same cost as trained ones). Per case: bare TransformerNet forward
images/s on random batches of the same size and batch size, then ``augment`` on N images.
Targets (issue 4): end-to-end >= 80% of bare forward at 128 and 256 px; 1000 images not slower per
image than 100; peak RSS not growing with the image count. The machine may be shared: noisy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_memory import peak_rss_mb, reset_peak_rss  # scripts/peak_memory.py  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CLASSES = ["desert_sand", "hot_spring", "ocean", "skyscraper"]


def bare_forward(size: int, batch_size: int, n_images: int) -> float:
    import torch

    from stylaug.models.transformer_net import TransformerNet

    net = TransformerNet().eval()
    x = torch.rand(batch_size, 3, size, size)
    with torch.no_grad():
        net(x)  # warm-up
        start = time.perf_counter()
        done = 0
        while done < n_images:
            net(x).clamp(0, 1).mul(255).round().to(torch.uint8)
            done += batch_size
    return done / (time.perf_counter() - start)


def dataset_overrides(size: int, n_images: int) -> list[str]:
    per_class = -(-n_images // len(CLASSES))
    return [
        f"dataset.image_size={size}",
        f"dataset.train_per_class={max(per_class * 2, 20)}",
        "dataset.test_per_class=2",
        "dataset.scenario_scale=1.0",
    ]


def augment_overrides(size: int, n_images: int, batch_size: int, workdir: Path) -> list[str]:
    per_class = -(-n_images // len(CLASSES))
    return [
        *dataset_overrides(size, n_images),
        f"augment.stylizer_dir={workdir / 'stylizers'}",
        f"augment.out_dir={workdir / 'aug'}",
        f"augment.batch_size={batch_size}",
        f"augment.max_per_class={per_class}",
        "augment.scenarios=[balanced]",
        "augment.score=false",  # the stylizing pipeline itself; scoring adds a loss-net forward
        f"scenario.train_per_class={per_class}",
        "scenario.val_per_class=1",
        f"scenario.augment_per_class={per_class}",
        "trainer.accelerator=cpu",
        "logger=none",
    ]


def prepare(size: int, n_images: int, batch_size: int, workdir: Path) -> None:
    """Synthetic data and untrained stylizers, in their own process (not in the RSS figure)."""
    import torch

    from stylaug.artifacts.checkpoints import checkpoint_path
    from stylaug.augment.set_plan import plan_jobs
    from stylaug.data.index import load_index
    from stylaug.models.stylizer import save_stylizer
    from stylaug.models.transformer_net import TransformerNet
    from stylaug.prepare_data.stage import prepare_data
    from tests.conftest import compose_cfg

    prepare_data(
        compose_cfg("prepare_data", [*dataset_overrides(size, n_images), "logger=none"], workdir)
    )
    cfg = compose_cfg("augment", augment_overrides(size, n_images, batch_size, workdir), workdir)
    for cls, sid in plan_jobs(load_index(cfg.dataset), cfg).needed:
        torch.manual_seed(0)
        meta = {"class": cls, "dataset": "synthetic", "residual_blocks": 5, "list_id": sid}
        save_stylizer(checkpoint_path(workdir / "stylizers", cls, sid), TransformerNet(), meta)


def run_case(size: int, n_images: int, batch_size: int, workdir: Path) -> dict:
    """One measurement, in this process: bare forward, then augment on ``n_images``."""
    from stylaug.augment.stage import augment
    from tests.conftest import compose_cfg

    bare = bare_forward(size, batch_size, min(n_images, 64))
    cfg = compose_cfg("augment", augment_overrides(size, n_images, batch_size, workdir), workdir)
    reset_peak_rss()  # the bare-forward phase above must not set augment's memory figure
    summary = augment(cfg)
    e2e = summary["written"] / summary["seconds"]
    return {
        "size": size,
        "images": summary["written"],
        "batch_size": batch_size,
        "bare_forward_img_s": round(bare, 2),
        "end_to_end_img_s": round(e2e, 2),
        "ratio": round(e2e / bare, 3),
        "ms_per_image": round(1000 / e2e, 2),
        "peak_rss_mb": peak_rss_mb(),
    }


def case(size: int, n_images: int, batch_size: int = 16) -> dict:
    """Run ``run_case`` in a fresh subprocess and return its figures."""
    with tempfile.TemporaryDirectory(prefix="bench_augment_") as tmp:
        for step in ("--prepare", "--case"):
            cmd = [sys.executable, __file__, step, str(size), str(n_images), str(batch_size), tmp]
            done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"benchmark {step} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def bench_augment(sizes=(128, 256), n_images=None, scaling=(100, 1000), scaling_size=64):
    """{"throughput": {size: case}, "scaling": {n: case}} with the issue's targets checked."""
    out = {"throughput": {}, "scaling": {}}
    for size in sizes:  # enough images that start-up (trainer, workers) is a small share
        n = n_images or {128: 256, 256: 96}.get(size, 128)
        r = out["throughput"][size] = case(size, n)
        print(f"{size:>4} px, {r['images']} images: bare {r['bare_forward_img_s']:.2f} img/s, "
              f"end-to-end {r['end_to_end_img_s']:.2f} img/s ({100 * r['ratio']:.0f}%), "
              f"peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)  # fmt: skip
    for n in scaling:
        r = out["scaling"][n] = case(scaling_size, n)
        print(f"{scaling_size:>4} px, {r['images']:>5} images: {r['ms_per_image']:.2f} ms/image, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)  # fmt: skip
    small, large = (out["scaling"][n] for n in (min(scaling), max(scaling)))
    out["targets"] = {
        "end_to_end_ge_80pct_of_bare": all(r["ratio"] >= 0.8 for r in out["throughput"].values()),
        "large_not_slower_per_image": large["ms_per_image"] <= small["ms_per_image"] * 1.05,
        "peak_rss_growth_mb": round(large["peak_rss_mb"] - small["peak_rss_mb"], 1),
    }
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("--prepare", "--case"):
        import logging

        logging.basicConfig(level=logging.WARNING)
        size, n, bs, tmp = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
        if sys.argv[1] == "--prepare":
            prepare(size, n, bs, tmp)
        else:
            print(json.dumps(run_case(size, n, bs, tmp)))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--images", type=int, default=None, help="images per throughput case")
    parser.add_argument("--scaling", type=int, nargs=2, default=[100, 1000])
    parser.add_argument("--scaling-size", type=int, default=64)
    args = parser.parse_args()
    result = bench_augment(args.sizes, args.images, tuple(args.scaling), args.scaling_size)
    print(json.dumps(result, indent=2))
