"""Time the whole study, stage by stage, under a preset.

    python scripts/bench_study.py                       # experiment=paper_synthetic (a GPU job)
    python scripts/bench_study.py --quick               # the same protocol, small: < 10 min on 2 CPUs
    python scripts/bench_study.py --root DIR stylizer.pool=scenario   # any override after the flags

Runs every stage of ``python -m stylaug.pipeline`` in this process (``stylaug.pipeline.run_stage``)
and prints and saves (``<root>/results/bench_study.json``) per stage: wall time, images per second,
the GPU memory peak (torch's allocator) and the GPU's mean utilisation (sampled with nvidia-smi)
where there is a GPU, and the stylizers' achieved seconds per training step. Stages find finished
work and skip it, so time a fresh ``--root``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stylaug.core.io import atomic_write_json  # noqa: E402
from stylaug.models.stylizer import load_stylizer  # noqa: E402
from stylaug.pipeline import run_stage, stages_to_run  # noqa: E402

# --quick: the paper's protocol (pool, hyperparameters, arms) at a size a 2-core CPU runs in minutes
QUICK = [
    "trainer=cpu",
    "dataset.image_size=64",
    "dataset.train_per_class=250",
    "dataset.test_per_class=50",
    "dataset.scenario_scale=0.05",
    "stylizer.image_size=64",
    "stylizer.max_steps=20",
    "stylizer.checkpoint_every=20",
    "classifier.image_size=64",
    "classifier.epochs=5",
    "classifier.aug_views=2",
    "augment.seeds=[0]",
    "data.num_workers=2",
]


class GpuSampler:
    """Mean GPU utilisation over a stage, from nvidia-smi every half second (None without one)."""

    def __init__(self):
        self.samples: list[float] = []
        self.cmd = shutil.which("nvidia-smi")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.5):
            out = subprocess.run(
                [self.cmd, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
            )
            values = [float(v) for v in out.stdout.split() if v.strip()]
            if values:
                self.samples.append(sum(values) / len(values))

    def __enter__(self):
        if self.cmd:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.cmd:
            self._thread.join()

    @property
    def mean(self) -> float | None:
        return round(sum(self.samples) / len(self.samples), 1) if self.samples else None


def images_done(name: str, result, cfg) -> tuple[int, dict]:
    """How many images the stage handled (for images/s), and stage-specific figures."""
    if name == "prepare_data":
        counts = result.counts()
        return sum(n for per in counts.values() for n in per.values()), {}
    if name == "train_stylizer":
        metas = {str(p): load_stylizer(p)[1] for p in dict.fromkeys(result)}
        trained = [m for m in metas.values() if (m.get("compute") or {}).get("train_seconds")]
        steps = sum(m["steps"] for m in trained)
        seconds = sum(m["compute"]["train_seconds"] for m in trained)
        seen = sum(m["steps"] * m.get("effective_batch", cfg.stylizer.batch_size) for m in trained)
        return seen, {
            "stylizers": len(metas),
            "steps": steps,
            "seconds_per_step": round(seconds / steps, 4) if steps else None,
        }
    if name == "augment":
        return int(result.get("written", 0)), {"planned": result.get("planned")}
    if name == "classify":
        return sum(sum(r["counts"]["train"].values()) for r in result), {"heads": len(result)}
    return 0, {}


def bench(overrides: list[str]) -> dict:
    from hydra import compose, initialize_config_dir

    stages = {}
    with initialize_config_dir(config_dir=str(REPO / "stylaug" / "conf"), version_base="1.3"):
        cfg = compose("pipeline", overrides)
        for name in stages_to_run(cfg):
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            with GpuSampler() as gpu:
                start = time.perf_counter()
                result = run_stage(name, cfg, overrides)
                seconds = time.perf_counter() - start
            images, extra = images_done(name, result, cfg)
            stages[name] = {
                "seconds": round(seconds, 2),
                "images": images,
                "images_per_s": round(images / seconds, 2) if images and seconds > 0 else None,
                "gpu_memory_peak_mb": round(torch.cuda.max_memory_allocated() / 2**20)
                if torch.cuda.is_available()
                else None,
                "gpu_utilisation_pct": gpu.mean,
                **extra,
            }
            print(f"{name:15s} {json.dumps(stages[name])}", flush=True)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "overrides": overrides,
        "device": device,
        "cpu_threads": torch.get_num_threads(),
        "stages": stages,
        "total_seconds": round(sum(s["seconds"] for s in stages.values()), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper_synthetic")
    parser.add_argument("--quick", action="store_true", help="small size: < 10 min on 2 CPU cores")
    parser.add_argument("--root", type=Path, default=None, help="paths.root (default: a temp dir)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. stylizer.pool=scenario")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="stylaug-bench-"))
    overrides = [
        f"experiment={args.preset}",
        f"paths.root={root}",
        "logger=none",
        *(QUICK if args.quick else []),
        *args.overrides,
    ]
    result = bench(overrides)
    out = root / "results" / "bench_study.json"
    atomic_write_json(out, result)
    print(f"total {result['total_seconds']} s on {result['device']}; wrote {out}")


if __name__ == "__main__":
    main()
