"""Stylizer training throughput: Lightning vs a plain PyTorch loop doing the same steps.

    WANDB_MODE=disabled .venv/bin/python scripts/bench_stylizer.py [--sizes 64 128 256]

Both loops train the same ``StylizerTraining`` (TransformerNet + random-init VGG16 loss network) on
the same in-memory batches; images/s is measured over the steps after a warm-up. Target (issue 3):
Lightning's overhead <= 5%. On a shared machine the figures are noisy; ``repeats`` keeps the best.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import pytorch_lightning as pl
import torch

from stylaug.models.loss_net import LossNetwork, default_layers
from stylaug.models.transformer_net import TransformerNet
from stylaug.train_stylizer.stylizer_training import StylizerTraining

# steps measured per image size (a 256 px step takes seconds on a laptop CPU)
DEFAULT_STEPS = {64: 10, 128: 5, 256: 3}


class StepClock(pl.Callback):
    def __init__(self):
        self.times = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.times.append((time.perf_counter(), time.process_time()))


def make_module(size: int, seed: int = 0) -> StylizerTraining:
    torch.manual_seed(seed)
    content, style = default_layers("vgg16", "johnson")
    loss_net = LossNetwork(content + style, "vgg16", "random")
    return StylizerTraining(
        TransformerNet(), loss_net, [torch.rand(3, size, size)], [1.0], content, style
    )


def make_loader(size: int, batch_size: int, n_batches: int):
    g = torch.Generator().manual_seed(0)
    data = torch.rand(batch_size * n_batches, 3, size, size, generator=g)
    n = len(data)  # (images, labels, ok) batches, as ImageFiles + collate_images make them
    triples = torch.utils.data.TensorDataset(
        data, torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.bool)
    )
    return torch.utils.data.DataLoader(triples, batch_size=batch_size, shuffle=False)


def rates(images: int, start, end) -> tuple[float, float]:
    """(images per wall second, images per CPU second of this process)."""
    return images / (end[0] - start[0]), images / (end[1] - start[1])


def plain_loop(size: int, batch_size: int, steps: int, warmup: int = 2) -> tuple[float, float]:
    module = make_module(size)
    optimizer = module.configure_optimizers()
    times = []
    for batch, _, _ in make_loader(size, batch_size, steps + warmup):
        loss = module.losses(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append((time.perf_counter(), time.process_time()))
    return rates(batch_size * steps, times[warmup - 1], times[-1])


def lightning_loop(size: int, batch_size: int, steps: int, warmup: int = 2) -> tuple[float, float]:
    module = make_module(size)
    clock = StepClock()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps + warmup,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[clock],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, make_loader(size, batch_size, steps + warmup))
    return rates(batch_size * steps, clock.times[warmup - 1], clock.times[-1])


def bench_stylizer(sizes=(64, 128, 256), batch_size: int = 2, steps=None, repeats: int = 1):
    """{size: figures}. Plain and Lightning runs alternate; each keeps its best of ``repeats``.

    overhead = 1 - lightning/plain, from wall-clock images/s and, more robust on a shared
    machine, from images per CPU-second of this process.
    """
    results = {}
    for size in sizes:
        n = steps if isinstance(steps, int) else (steps or DEFAULT_STEPS).get(size, 3)
        plain, light = [], []
        for _ in range(repeats):
            plain.append(plain_loop(size, batch_size, n))
            light.append(lightning_loop(size, batch_size, n))
        (p_wall, p_cpu), (l_wall, l_cpu) = (
            tuple(max(r[i] for r in runs) for i in (0, 1)) for runs in (plain, light)
        )
        r = results[size] = {
            "batch_size": batch_size,
            "steps": n,
            "plain_img_s": round(p_wall, 2),
            "lightning_img_s": round(l_wall, 2),
            "overhead_pct": round(100 * (1 - l_wall / p_wall), 1),
            "plain_img_per_cpu_s": round(p_cpu, 2),
            "lightning_img_per_cpu_s": round(l_cpu, 2),
            "cpu_overhead_pct": round(100 * (1 - l_cpu / p_cpu), 1),
        }
        print(f"{size:>4} px: plain {p_wall:6.2f} img/s, lightning {l_wall:6.2f} img/s "
              f"(overhead {r['overhead_pct']:+.1f}%); per CPU-second {p_cpu:6.2f} vs {l_cpu:6.2f} "
              f"(overhead {r['cpu_overhead_pct']:+.1f}%)", flush=True)  # fmt: skip
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="steps per size (default: by size)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(
        json.dumps(bench_stylizer(args.sizes, args.batch_size, args.steps, args.repeats), indent=2)
    )
