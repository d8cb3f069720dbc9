"""All the pipeline's benchmark figures in one run: a table on the console and results/bench.json.

    python scripts/bench.py            # stylizer, augment, classify, heads, robustness (the targets)
    python scripts/bench.py --all      # + Gatys and the photorealistic options
    python scripts/bench.py --quick    # smaller sizes, for a first look

Each figure comes from the stage's own benchmark script (scripts/bench_*.py), which runs the real
stage code; see those scripts for what exactly is timed. Run it on an otherwise idle machine:
the figures are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylaug.core.io import atomic_write_json  # noqa: E402


def stylizer_rows(quick: bool) -> tuple[dict, list]:
    from bench_stylizer import bench_stylizer

    ks = (1, 4) if quick else (1, 4, 9, 27)
    res = bench_stylizer(sizes=(64,) if quick else (64, 256), ks=ks)
    rows = [
        (
            f"stylizer group, K={k}, {size} px ({name})",
            f"{r['steps_per_s']} steps/s, {r['images_per_s']} img/s",
            f"{r['vs_sequential']:.2f}x K sequential networks",
            "report",
        )
        for size, by_k in res.items()
        for k in ks
        for name, r in by_k[f"K={k}"].items()
    ]
    return res, rows


def augment_rows(quick: bool) -> tuple[dict, list]:
    from bench_augment import bench_augment

    res = bench_augment(
        sizes=(128,) if quick else (128, 256), scaling=(100, 300) if quick else (100, 1000)
    )
    rows = [
        (
            f"augment end-to-end, {s} px",
            f"{r['end_to_end_img_s']:.2f} img/s vs bare forward {r['bare_forward_img_s']:.2f}",
            f"{100 * r['ratio']:.0f}%",
            "≥ 80%",
        )
        for s, r in res["throughput"].items()
    ]
    small, large = (res["scaling"][n] for n in sorted(res["scaling"]))
    rows.append(
        (
            f"augment per image, {small['images']} vs {large['images']} images",
            f"{small['ms_per_image']:.2f} vs {large['ms_per_image']:.2f} ms",
            f"peak RSS {small['peak_rss_mb']:.0f} → {large['peak_rss_mb']:.0f} MB",
            "not slower; RSS flat",
        )
    )
    return res, rows


def classify_rows(quick: bool) -> tuple[dict, list]:
    from bench_classify import bench_classify

    res = bench_classify(epochs=2 if quick else 3)
    rows = [
        (
            f"classify, {res['images_train_val']} images, {res['epochs']} epochs",
            f"cold {res['cold_s']:.1f} s, warm cache {res['warm_s']:.2f} s",
            f"{100 * res['warm_over_cold']:.1f}% of cold",
            "≤ 5%",
        ),
        (
            "classify peak RSS (warm)",
            f"{res['peak_rss_mb']['warm']:.0f} MB",
            f"+{res['warm_rss_growth_mb']} MB for +{res['images_train_val'] - res['images_half']} "
            f"images (features +{res['feature_matrix_growth_mb']} MB)",
            "≈ feature matrix",
        ),
    ]
    return res, rows


def heads_rows(quick: bool) -> tuple[dict, list]:
    from bench_heads import bench_heads

    res = bench_heads(sizes=("demo",) if quick else ("demo", "paper"), repeats=1 if quick else 3)
    rows = [
        (
            f"classifier head on cached features, {size} ({r['train']} x {r['dim']}, "
            f"{r['epochs']} epochs)",
            f"Lightning {r['lightning_wall_s']:.2f} s (start-up {r['lightning_wall_startup_s']:.3f}"
            f" s), plain loop {r['plain_wall_s']:.2f} s",
            f"{r['ratio_wall']}x faster, same predictions: {r['same_predictions']}",
            "≥ 1.5x, same result",
        )
        for size, r in res.items()
    ]
    return res, rows


def robustness_rows(quick: bool) -> tuple[dict, list]:
    from bench_robustness import bench_robustness

    res = bench_robustness(severities=(3,) if quick else (1, 3, 5))
    f, s = res["first"], res["second"]
    return res, [
        (
            f"robustness evaluation, {f['conditions']} corrupted test sets x {f['images']} images",
            f"first {f['seconds']:.1f} s, second {s['seconds']:.2f} s (cache)",
            f"{res['speedup']}x faster",
            "≥ 10x",
        )
    ]


def gatys_rows(quick: bool) -> tuple[dict, list]:
    from bench_gatys import bench

    res = bench(iterations=3, n_images=20 if quick else 100)
    return res, [("gatys / johnson (stylize)", json.dumps(res), "", "report")]


def photoreal_rows(quick: bool) -> tuple[dict, list]:
    from bench_photoreal import bench

    res = bench(iterations=2 if quick else 3)
    return res, [("photoreal options", json.dumps(res), "", "report")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="also Gatys and photorealistic options")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--out", default="results/bench.json")
    args = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "disabled")
    benches = {
        "stylizer": stylizer_rows,
        "augment": augment_rows,
        "classify": classify_rows,
        "heads": heads_rows,
        "robustness": robustness_rows,
    }
    if args.all:
        benches |= {"gatys": gatys_rows, "photoreal": photoreal_rows}
    console = Console()
    figures, rows = {}, []
    for name, fn in benches.items():
        console.rule(f"benchmark: {name}")
        start = time.perf_counter()
        figures[name], new_rows = fn(args.quick)
        figures[name + "_wall_s"] = round(time.perf_counter() - start, 1)
        rows += new_rows
    table = Table(
        title=f"stylaug benchmarks ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, "
        f"{'CUDA' if torch.cuda.is_available() else 'CPU'})"
    )
    for col in ("what", "measured", "figure", "target"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    figures["machine"] = {
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "quick": args.quick,
    }
    atomic_write_json(args.out, figures)
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
