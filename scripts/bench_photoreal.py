"""Cost of the photorealistic options of ``python -m stylaug.stylize``: matting-Laplacian build time and
memory at 128 and 256 px, and seconds per Gatys iteration at 128 px with each option on vs off.

    .venv/bin/python scripts/bench_photoreal.py [--iterations 3] [--threads N]

Memory: the peak of Python/numpy allocations while building (tracemalloc) and the size of the
final sparse matrix. Random-init networks (speed does not depend on the weights' values); the
segmentation model is the default ``deeplabv3_resnet50``. ``bench()`` returns the figures as a dict
for ``scripts/bench.py``. On a shared machine the figures are noisy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylaug.models import gatys, segmentation  # noqa: E402
from stylaug.models import photoreal_loss as photoreal  # noqa: E402
from stylaug.models.loss_net import LossNetwork  # noqa: E402

CONTENT_LAYERS = ["conv4_2"]
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def laplacian_cost(size: int) -> dict:
    image = np.random.default_rng(0).random((size, size, 3))
    tracemalloc.start()
    start = time.perf_counter()
    lap = photoreal.matting_laplacian(image)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        f"laplacian_build_s_{size}px": seconds,
        f"laplacian_peak_build_mb_{size}px": peak / 2**20,
        f"laplacian_matrix_mb_{size}px": photoreal.sparse_megabytes(photoreal.to_torch(lap)),
        f"laplacian_nnz_{size}px": int(lap.nnz),
    }


def seconds_per_iteration(size: int, iterations: int, seg_arch: str) -> dict:
    """Gatys L-BFGS step time with no option, and with each option on its own."""
    torch.manual_seed(0)
    vgg = LossNetwork(CONTENT_LAYERS + STYLE_LAYERS, "vgg19", "random")
    y, x = np.mgrid[0:size, 0:size] / size
    content = torch.from_numpy(np.stack([x, y, x * y]).astype(np.float32))[None]
    style = torch.rand(1, 3, size, size)
    with torch.no_grad():
        content_features, style_features = vgg(content), vgg(style)
    grams = gatys.style_grams(style_features, STYLE_LAYERS)
    segmenter = segmentation.build_segmenter(seg_arch, "random")
    labels = torch.zeros(size, size, dtype=torch.long)
    labels[size // 2 :] = 1
    regions = segmentation.semantic_regions(labels, labels, style_features, STYLE_LAYERS)
    base = {"content": 1.0, "style": 1e6, "tv": 0.0}
    setups = {
        "off": ({}, None),
        "seg_loss": ({"seg": segmentation.SegmentationTerm(segmenter, content)}, None),
        "photoreal": ({"photoreal": photoreal.PhotorealTerm(content)}, None),
        "semantic_style": ({}, regions),
    }
    figures = {}
    for name, (extra, regions_) in setups.items():
        terms = gatys.gatys_terms(
            content_features, grams, CONTENT_LAYERS, STYLE_LAYERS, regions=regions_
        )
        terms.update(extra)
        calls = [0]
        content_term = terms["content"]

        def counted(image, features, content_term=content_term, calls=calls):
            calls[0] += 1  # once per loss evaluation
            return content_term(image, features)

        terms["content"] = counted
        weights = {**base, **{k: 1.0 for k in extra}}
        gatys.optimise(content, vgg, terms, weights, "lbfgs", 1, progress=False)  # warm-up
        calls[0] = 0
        start = time.perf_counter()
        gatys.optimise(content, vgg, terms, weights, "lbfgs", iterations, progress=False)
        seconds = time.perf_counter() - start
        figures[f"gatys_s_per_iter_{size}px_{name}"] = seconds / iterations
        figures[f"gatys_s_per_eval_{size}px_{name}"] = seconds / calls[0]
    return figures


def bench(iterations: int = 3, seg_arch: str = "deeplabv3_resnet50") -> dict:
    figures = {"torch_threads": torch.get_num_threads(), "segmentation_arch": seg_arch}
    for size in (128, 256):
        figures.update(laplacian_cost(size))
    figures.update(seconds_per_iteration(128, iterations, seg_arch))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--seg-arch", default="deeplabv3_resnet50")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(json.dumps(bench(args.iterations, args.seg_arch), indent=2))


if __name__ == "__main__":
    main()
