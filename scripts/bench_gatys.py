"""Speed of ``python -m stylaug.stylize``: seconds per Gatys iteration at 128 and 256 px, and johnson-mode
images/s on a folder of 100 images at 256 px.

    .venv/bin/python scripts/bench_gatys.py [--iterations 5] [--images 100] [--threads N]

Random-init networks (speed does not depend on the weights' values). ``bench()`` returns the
figures as a dict for ``scripts/bench.py``. On a shared machine the figures are noisy.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylaug.models import gatys  # noqa: E402
from stylaug.models.loss_net import LossNetwork  # noqa: E402


def gatys_seconds_per_iteration(size: int, iterations: int = 5, optimizer: str = "lbfgs") -> float:
    """Mean wall time of one optimiser step (the default VGG19 layers) after one warm-up step."""
    content_layers = ["conv4_2"]
    style_layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    torch.manual_seed(0)
    vgg = LossNetwork(content_layers + style_layers, "vgg19", "random")
    content, style = torch.rand(1, 3, size, size), torch.rand(1, 3, size, size)
    with torch.no_grad():
        terms = gatys.gatys_terms(
            vgg(content), gatys.style_grams(vgg(style), style_layers), content_layers, style_layers
        )
    weights = {"content": 1.0, "style": 1e6, "tv": 0.0}
    gatys.optimise(content, vgg, terms, weights, optimizer, 1, progress=False)  # warm-up
    start = time.perf_counter()
    gatys.optimise(content, vgg, terms, weights, optimizer, iterations, progress=False)
    return (time.perf_counter() - start) / iterations


def johnson_images_per_second(n_images: int = 100, size: int = 256, batch_size: int = 4) -> float:
    """Whole ``stylize(method=johnson)`` on a folder: reading, batching, the net, writing PNGs."""
    from stylaug.models.stylizer import save_stylizer
    from stylaug.models.transformer_net import TransformerNet
    from stylaug.stylize.stage import stylize
    from tests.conftest import compose_cfg

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rng = np.random.default_rng(0)
        for i in range(n_images):
            img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(img).save(tmp / f"in_{i:03d}.png")
        ckpt = save_stylizer(tmp / "net.ckpt", TransformerNet(), {"note": "benchmark, random"})
        cfg = compose_cfg(
            "stylize",
            [
                "method=johnson",
                f"checkpoint={ckpt}",
                f"input={tmp}",
                f"output={tmp / 'out'}",
                f"johnson.batch_size={batch_size}",
                "logger=none",
                "progress=false",
                "trainer.accelerator=cpu",
            ],
            tmp,
        )
        start = time.perf_counter()
        result = stylize(cfg)
        seconds = time.perf_counter() - start
        assert len(result["written"]) == n_images
    return n_images / seconds


def bench(iterations: int = 5, n_images: int = 100) -> dict:
    figures = {"torch_threads": torch.get_num_threads()}
    for size in (128, 256):
        figures[f"gatys_lbfgs_s_per_iter_{size}px"] = gatys_seconds_per_iteration(size, iterations)
    figures["gatys_adam_s_per_iter_128px"] = gatys_seconds_per_iteration(128, iterations, "adam")
    figures["johnson_images_per_s_256px"] = johnson_images_per_second(n_images, 256)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(json.dumps(bench(args.iterations, args.images), indent=2))


if __name__ == "__main__":
    main()
