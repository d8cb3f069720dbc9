"""Online style augmentation's cost: images/s of each ``StyleAugment`` family (and of a training step
with ``MixStyle``) against the bare backbone training step, on the same batch, in the same run.

    WANDB_MODE=disabled .venv/bin/python scripts/bench_transforms.py [--sizes 64 256] [--batch 32]
        [--repeats 3] [--json results/bench_transforms.json]

Per size, on random images (B, 3, S, S) and random labels over 4 classes:

* step - EfficientNet-Lite0 (random init: the same cost as ImageNet weights) with a 4-class head,
  train mode: forward, cross-entropy, backward, Adam step. The reference every ratio divides by;
* each family at p=1 (every image stylized: the worst case; at probability p the cost is p times
  it), networks with random weights: adain / randomized (EfficientNet-Lite0 encoder at block4 +
  the demo's decoder, a pool of 16 styles), johnson (4 per-class TransformerNets, the batch's labels
  spread over the 4 classes: 4 passes), fda (beta 0.05), histogram_match;
* mixstyle - the training step with MixStyle (p=1) after blocks 2 and 4.

Each case runs once to warm up, then ``--repeats`` times, interleaved with the others; the best
wall time counts (the machine may be shared). ``cost`` = the case's seconds per batch / the step's:
a training loop with online style at probability p takes (1 + p x cost) x the plain step's time.

Epoch against offline set, computed from these per-image costs (no I/O: both sides read the same
images; offline writing is extra): one epoch of online style over N training images at p costs
p x N x style seconds/image on top of N x step seconds/image; generating an offline set of M
images once costs M x style seconds/image, and training on it adds M x step seconds/image to every
epoch. Printed for the demo's biased_case1 (N=1300, M=400, 15 epochs, at 64 px) and the paper's
(N=13000, M=4000, 25 epochs, at 256 px: the paper's 224 px step is a little cheaper), p=0.5.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's stylaug, whichever one is installed

from stylaug.models.adain import AdaINStylizer, Decoder, encoder_spec  # noqa: E402
from stylaug.models.loss_net import LossNetwork  # noqa: E402
from stylaug.models.transformer_net import TransformerNet  # noqa: E402
from stylaug.models.weights import build  # noqa: E402
from stylaug.transforms import StyleAugment, insert_mixstyle  # noqa: E402

CLASSES = 4
POOL = 16
# study: (training images N, offline stylized images M, epochs, size)
STUDIES = {"demo biased_case1": (1300, 400, 15, 64), "paper biased_case1": (13000, 4000, 25, 256)}
P = 0.5


def classifier() -> nn.Module:
    torch.manual_seed(0)
    net, _ = build("efficientnet_lite0", "random")
    net._fc = nn.Linear(net._fc.in_features, CLASSES)
    return net.train()


def training_step(model: nn.Module):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(images, labels):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def probe_step():
    """The linear probe without a feature cache: frozen backbone forward (eval, no grad), then
    the head's step - what an online arm costs per batch in classifier.mode=linear_probe."""
    backbone = classifier().eval().requires_grad_(False)
    head = nn.Linear(backbone._fc.in_features, CLASSES)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)

    def step(images, labels):
        with torch.no_grad():
            features = backbone.extract_features(images).mean(dim=(2, 3))
        loss = F.cross_entropy(head(features), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def augmenters(size: int) -> dict:
    torch.manual_seed(0)
    styles = torch.rand(POOL, 3, size, size)
    layer, _, widths = encoder_spec("efficientnet_lite0")
    adain = AdaINStylizer(
        LossNetwork([layer], "efficientnet_lite0", "random"), layer, Decoder(40, widths)
    )
    stylizers = {k: TransformerNet() for k in range(CLASSES)}
    common = {"p": 1.0, "generator": torch.Generator().manual_seed(0)}
    return {
        "adain": StyleAugment("adain", stylizer=adain, styles=styles, **common),
        "randomized": StyleAugment("randomized", stylizer=adain, styles=styles, **common),
        "johnson": StyleAugment("johnson", stylizers=stylizers, **common),
        "fda": StyleAugment("fda", styles=styles, beta=0.05, **common),
        "histogram_match": StyleAugment("histogram_match", styles=styles, **common),
    }


def bench_size(size: int, batch: int, repeats: int) -> dict:
    images = torch.rand(batch, 3, size, size)
    labels = torch.arange(batch) % CLASSES
    cases = {"step": training_step(classifier()), "probe_step": probe_step()}
    for name, augment in augmenters(size).items():
        cases[name] = lambda x, y, augment=augment: augment(x, y)
    mixed = classifier()
    insert_mixstyle(mixed, p=1.0, generator=torch.Generator().manual_seed(0))
    cases["step+mixstyle"] = training_step(mixed)
    best = dict.fromkeys(cases, float("inf"))
    for round_ in range(repeats + 1):  # round 0 warms up
        for name, run in cases.items():
            start = time.perf_counter()
            run(images, labels)
            seconds = time.perf_counter() - start
            if round_:
                best[name] = min(best[name], seconds)
    out = {}
    for name, seconds in best.items():
        out[name] = {
            "img_s": round(batch / seconds, 2),
            "s_per_image": seconds / batch,
            "cost": round(seconds / best["step"], 3),
            "cost_vs_probe": round(seconds / best["probe_step"], 3),
        }
    return out


def epoch_costs(results: dict) -> dict:
    """Per study and family: seconds of one online epoch (step + style at P) against the offline
    set's generation once and its extra steps per epoch."""
    out = {}
    for study, (n, m, epochs, size) in STUDIES.items():
        if size not in results:
            continue
        step = results[size]["step"]["s_per_image"]
        rows = {}
        for family in ("adain", "randomized", "johnson", "fda", "histogram_match"):
            style = results[size][family]["s_per_image"]
            online_epoch = n * step + P * n * style
            rows[family] = {
                "epoch_plain_s": round(n * step, 1),
                "online_epoch_s": round(online_epoch, 1),
                "online_extra_per_epoch_s": round(P * n * style, 1),
                "offline_generation_s": round(m * style, 1),
                "offline_extra_per_epoch_s": round(m * step, 1),
                "online_total_s": round(epochs * online_epoch, 1),
                "offline_total_s": round(m * style + epochs * (n + m) * step, 1),
            }
        out[study] = {"N": n, "M": m, "epochs": epochs, "size": size, "p": P, "families": rows}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, CPU; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    results = {}
    for size in args.sizes:
        results[size] = bench_size(size, args.batch, args.repeats)
        print(f"\n{size} px            images/s   cost vs step   cost vs probe step")
        for name, r in results[size].items():
            print(
                f"  {name:<16} {r['img_s']:>9.2f}   {r['cost']:>12.3f}   {r['cost_vs_probe']:>18.3f}"
            )
    costs = epoch_costs(results)
    for study, c in costs.items():
        print(
            f"\n{study}: N={c['N']} training images, M={c['M']} offline, {c['epochs']} epochs, "
            f"{c['size']} px, p={c['p']} (seconds)"
        )
        print(
            "  family            plain epoch  online epoch  offline generation  "
            "offline +/epoch  online total  offline total"
        )
        for family, r in c["families"].items():
            print(
                f"  {family:<16} {r['epoch_plain_s']:>12} {r['online_epoch_s']:>13} "
                f"{r['offline_generation_s']:>19} {r['offline_extra_per_epoch_s']:>16} "
                f"{r['online_total_s']:>13} {r['offline_total_s']:>14}"
            )
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"per_size": results, "epochs": costs}, indent=2))


if __name__ == "__main__":
    main()
