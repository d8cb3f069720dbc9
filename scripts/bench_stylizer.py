"""Stylizer training throughput: K networks as one group (stylaug.models.stylizer_group) against
the same K networks trained one after another, and where a demo step's time goes.

    WANDB_MODE=disabled .venv/bin/python scripts/bench_stylizer.py              # K = 1 4 9 27, 64 + 256 px
    WANDB_MODE=disabled .venv/bin/python scripts/bench_stylizer.py --breakdown  # a demo step, part by part
    WANDB_MODE=disabled .venv/bin/python scripts/bench_stylizer.py --sizes     # the demo projection only

Networks as in the demo (experiment=demo): batch 4, the EfficientNet-Lite0 loss network, the
demo's loss weights and learning rate; images are random tensors in memory (decoding is measured
in --breakdown). "sequential" is today's path - one ``StylizerTraining`` and its Adam, step after
step, on the process's intra-op threads; K sequential networks cost K times one network's step,
which is measured in the same run. Group strategies: ``loop`` (one thread, networks one by one),
``loopxT`` (T Python threads of one intra-op thread each: the CPU default, T = the process's
intra-op threads), ``vmap`` (the GPU default). Each figure is the best of ``--repeats`` timings of ``--steps`` steps after one warm-up
step; on a shared machine the figures are noisy, and CPU time (``cpu_s``) is printed next to wall
time for that reason.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn

from stylaug.models.loss_net import LossNetwork, default_layers
from stylaug.models.stylizer_group import StylizerGroup
from stylaug.models.transformer_net import TransformerNet
from stylaug.train_stylizer.stylizer_training import StylizerTraining

BATCH = 4
DEMO = {"content_weight": 1e6, "style_weight": 1.5e7}  # conf/experiment/demo.yaml
LR = 1e-2
# the demo's stylizers before: leak-free (pool=scenario), 27 distinct training lists, 64 px, batch 4,
# 200 steps each, one after another; after (conf/experiment/demo.yaml now): the paper's pool, 4
# networks (one per class) at batch 2 for 200 steps, as one group
BEFORE = {"networks": 27, "batch": 4, "steps": 200}
AFTER = {"networks": 4, "batch": 2, "steps": 200}
DEFAULT_STEPS = {64: 3, 256: 1}


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def clock() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all its threads)."""
    return time.perf_counter(), time.process_time()


def loss_network() -> tuple[LossNetwork, list[str], list[str]]:
    content, style = default_layers("efficientnet_lite0", "johnson")
    return LossNetwork(content + style, "efficientnet_lite0", "imagenet"), content, style


def channels_first_output(net: TransformerNet) -> TransformerNet:
    """The network as it was before its output convolution went channels-last (the 'before')."""
    old = net.decoder[-1][-1]
    plain = nn.Conv2d(old.in_channels, old.out_channels, old.kernel_size, old.stride)
    plain.load_state_dict(old.state_dict())
    net.decoder[-1][-1] = plain
    return net


def timed(step, steps: int, repeats: int) -> tuple[float, float]:
    """Best (wall, CPU) seconds per step over ``repeats`` runs of ``steps`` steps, after a
    warm-up step."""
    step()
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        sync()
        start = clock()
        for _ in range(steps):
            step()
        sync()
        end = clock()
        best = min(best, ((end[0] - start[0]) / steps, (end[1] - start[1]) / steps))
    return best


def single_step(size: int, loss_net, content, style, before: bool = False):
    """One step of one network, today's way (``StylizerTraining`` + Adam)."""
    dev = device()
    net = TransformerNet()
    module = StylizerTraining(
        channels_first_output(net) if before else net,
        loss_net,
        [torch.rand(3, size, size)],
        [1.0],
        content,
        style,
        **DEMO,
        lr=LR,
    ).to(dev)
    optimizer = module.configure_optimizers()
    images = torch.rand(BATCH, 3, size, size, device=dev)

    def step():
        loss = module.losses(images)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def group_step(
    size: int, k: int, loss_net, content, style, batched: str, threads: int, batch: int = BATCH
):
    dev = device()
    group = StylizerGroup(
        [TransformerNet() for _ in range(k)],
        loss_net,
        [[torch.rand(3, size, size)] for _ in range(k)],
        [[1.0]] * k,
        content,
        style,
        **DEMO,
        batched=batched,
        threads=threads,
    ).to(dev)
    optimizer = group.optimizer(LR)
    images = torch.rand(k, batch, 3, size, size, device=dev)

    def step():
        optimizer.zero_grad(set_to_none=True)
        group.backward(images)
        optimizer.step()

    return step


def strategies(threads: int, vmap_on_cpu: bool = False) -> dict[str, tuple[str, int]]:
    """The group strategies measured: on a GPU both; on a CPU the default, the networks on as
    many threads as the process has intra-op threads (run with OMP_NUM_THREADS=1 for ``loop``
    against one-thread sequential training), and vmap if asked."""
    if device().type == "cuda":
        return {"loop": ("loop", 1), "vmap": ("vmap", 1)}
    chosen = {"loop" if threads == 1 else f"loopx{threads}": ("loop", threads)}
    return {**chosen, "vmap": ("vmap", 1)} if vmap_on_cpu else chosen


def bench_stylizer(
    sizes=(64, 256), ks=(1, 4, 9, 27), steps=None, repeats: int = 1, vmap_on_cpu: bool = False
) -> dict:
    """{size: {"sequential": ..., "K=k": {strategy: figures}}}; prints one line per figure."""
    loss_net, content, style = loss_network()
    loss_net.to(device())
    threads = torch.get_num_threads()
    results = {}
    for size in sizes:
        n = (steps or DEFAULT_STEPS).get(size, 1) if not isinstance(steps, int) else steps
        wall, cpu = timed(single_step(size, loss_net, content, style), n, repeats)
        row = results[size] = {"steps": n, "sequential": {"step_s": wall, "cpu_s": cpu}}
        print(f"{size:>3} px  one network, today's path: {wall:.3f} s/step ({cpu:.3f} CPU-s), "
              f"{BATCH / wall:.1f} img/s", flush=True)  # fmt: skip
        for k in ks:
            for name, (batched, t) in strategies(threads, vmap_on_cpu).items():
                g_wall, g_cpu = timed(
                    group_step(size, k, loss_net, content, style, batched, t), n, repeats
                )
                ratio, cpu_ratio = k * wall / g_wall, k * cpu / g_cpu
                row.setdefault(f"K={k}", {})[name] = {
                    "steps_per_s": round(1 / g_wall, 4),
                    "images_per_s": round(k * BATCH / g_wall, 2),
                    "vs_sequential": round(ratio, 3),
                    "cpu_vs_sequential": round(cpu_ratio, 3),
                }
                print(f"{size:>3} px  K={k:<2} {name:6s}: {1 / g_wall:7.3f} steps/s "
                      f"{k * BATCH / g_wall:7.1f} img/s  = {ratio:.2f}x K sequential "
                      f"(CPU time: {cpu_ratio:.2f}x)", flush=True)  # fmt: skip
    return results


def demo_projection(repeats: int = 1) -> dict:
    """The demo's stylizer stage from step times alone (64 px; the per-stylizer start-up, logging
    and checkpoint writing are not in it): before = 27 leak-free networks, 200 steps at batch 4,
    one after another; after = the demo's settings now (``AFTER``), one group."""
    loss_net, content, style = loss_network()
    threads = torch.get_num_threads()
    before, before_cpu = timed(single_step(64, loss_net, content, style, before=True), 3, repeats)
    batched, t = ("vmap", 1) if device().type == "cuda" else ("loop", threads)
    k = AFTER["networks"]
    step = group_step(64, k, loss_net, content, style, batched, t, AFTER["batch"])
    after, after_cpu = timed(step, 3, repeats)
    n_before = BEFORE["networks"] * BEFORE["steps"]
    out = {
        "before_s": round(n_before * before, 1),
        "before_cpu_s": round(n_before * before_cpu, 1),
        "after_s": round(AFTER["steps"] * after, 1),
        "after_cpu_s": round(AFTER["steps"] * after_cpu, 1),
    }
    print(f"demo stylizer stage, projected from step times: before {out['before_s']:.0f} s "
          f"({out['before_cpu_s']:.0f} CPU-s; {BEFORE['networks']} x {BEFORE['steps']} x "
          f"{before:.3f} s at batch {BEFORE['batch']}), after {out['after_s']:.0f} s "
          f"({out['after_cpu_s']:.0f} CPU-s; {AFTER['steps']} x {after:.2f} s, one group of {k} "
          f"at batch {AFTER['batch']}, {batched} x {t})", flush=True)  # fmt: skip
    return out


# --- where a demo step's time goes --------------------------------------------------------------


def best_of(fn, repeats: int = 5) -> tuple[float, float]:
    """Best (wall, CPU) seconds of ``fn()`` over ``repeats`` calls, after a warm-up call."""
    fn()
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        start = clock()
        fn()
        end = clock()
        best = min(best[0], end[0] - start[0]), min(best[1], end[1] - start[1])
    return best


def parts(size: int = 64) -> dict[str, tuple[float, float]]:
    """(wall, CPU) milliseconds per demo step, part by part, on the current intra-op threads."""
    loss_net, content, style = loss_network()
    module = StylizerTraining(
        TransformerNet(), loss_net, [torch.rand(3, size, size)], [1.0], content, style, **DEMO
    )
    old = channels_first_output(TransformerNet())
    optimizer = module.configure_optimizers()
    x = torch.rand(BATCH, 3, size, size)
    out = module.net(x)
    features = {k: v.float() for k, v in loss_net(out).items()}
    ms = {}
    ms["transformer forward"] = best_of(lambda: module.net(x))
    ms["transformer forward+backward"] = best_of(lambda: module.net(x).square().mean().backward())
    ms["  transformer, channels-first output conv (before)"] = best_of(
        lambda: old(x).square().mean().backward()
    )
    channels_last = TransformerNet().to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    ms["  transformer, whole network channels_last"] = best_of(
        lambda: channels_last(x_cl).square().mean().backward()
    )
    with torch.no_grad():
        ms["loss network on the input (no grad)"] = best_of(lambda: loss_net(x))
    y = out.detach().requires_grad_()
    ms["loss network on the output, forward+backward"] = best_of(
        lambda: sum(v.square().mean() for v in loss_net(y).values()).backward()
    )
    with torch.no_grad():
        target = {k: v.float() for k, v in loss_net(x).items()}
        ms["Grams + content/style losses"] = best_of(lambda: _loss_terms(module, features, target))
    for p in module.net.parameters():
        p.grad = torch.zeros_like(p)
    ms["Adam step"] = best_of(optimizer.step)
    ms["whole step (today's module)"] = best_of(
        lambda: (optimizer.zero_grad(), module.losses(x)["loss"].backward(), optimizer.step())
    )
    before = StylizerTraining(
        old, loss_net, [torch.rand(3, size, size)], [1.0], content, style, **DEMO
    )
    before_optimizer = before.configure_optimizers()
    ms["  whole step, channels-first output conv (before)"] = best_of(
        lambda: (
            before_optimizer.zero_grad(),
            before.losses(x)["loss"].backward(),
            before_optimizer.step(),
        )
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ms["whole step, bf16 autocast"] = best_of(
            lambda: (optimizer.zero_grad(), module.losses(x)["loss"].backward(), optimizer.step()),
            repeats=2,
        )
    loss = module.losses(x)["loss"].detach()
    ms["host sync: loss.item()"] = best_of(loss.item, repeats=50)
    return {k: (round(1000 * wall, 2), round(1000 * cpu, 2)) for k, (wall, cpu) in ms.items()}


def _loss_terms(module: StylizerTraining, features: dict, target: dict) -> None:
    from stylaug.models.loss_net import content_loss, style_loss

    content_loss(features, target, module.content_layers)
    style_loss(features, module.style_grams(0), module.style_layers)


def decode_vs_memory(size: int = 64) -> dict[str, float]:
    """CPU milliseconds per batch of 4: PNG files decoded and resized (ImageFiles, as training
    reads them) vs the same images held as tensors."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    from stylaug.data.dataset import ImageFiles, SquareView, collate_images

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, photo in enumerate(load_sample_images().images * 2):
            img = Image.fromarray(photo).resize((size + size // 2, size))  # like the demo's set
            paths.append(Path(tmp) / f"{i}.png")
            img.save(paths[-1])
        files = ImageFiles(paths, SquareView(size))
        held = torch.stack([files[i][0] for i in range(len(files))])
        decode = best_of(lambda: collate_images([files[i] for i in range(BATCH)]), 20)[1]
        memory = best_of(lambda: held[torch.arange(BATCH)].clone(), 20)[1]
    return {"decode 4 PNGs": round(1000 * decode, 3), "4 held tensors": round(1000 * memory, 3)}


def lightning_overhead(size: int = 64, steps: int = 10) -> dict[str, float]:
    """Seconds per step of today's module: a Lightning Trainer vs a plain loop, same batches
    (wall and CPU time between the first and the last step)."""
    loss_net, content, style = loss_network()

    def module():
        torch.manual_seed(0)
        return StylizerTraining(
            TransformerNet(), loss_net, [torch.rand(3, size, size)], [1.0], content, style, **DEMO
        )

    data = torch.rand(BATCH * (steps + 1), 3, size, size)
    triples = torch.utils.data.TensorDataset(
        data, torch.zeros(len(data), dtype=torch.long), torch.ones(len(data), dtype=torch.bool)
    )
    loader = torch.utils.data.DataLoader(triples, batch_size=BATCH)
    plain = module()
    optimizer = plain.configure_optimizers()
    times = []
    for images, _, _ in loader:
        loss = plain.losses(images)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(clock())

    class Clock(pl.Callback):
        def on_train_batch_end(self, *args):
            times_pl.append(clock())

    times_pl = []
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=steps + 1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[Clock()],
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module(), loader)

    def per_step(t, i):
        return round((t[-1][i] - t[0][i]) / steps, 4)

    return {
        "plain_s": per_step(times, 0),
        "lightning_s": per_step(times_pl, 0),
        "plain_cpu_s": per_step(times, 1),
        "lightning_cpu_s": per_step(times_pl, 1),
    }


def loss_net_batching() -> dict[str, float]:
    """CPU milliseconds per image of the loss network (forward + backward, as on a stylizer's
    output): on one network's batch of 4 vs on a group's images at once."""
    loss_net, _, _ = loss_network()
    out = {}
    for size, n in ((64, 4), (64, 108), (256, 4), (256, 16)):
        x = torch.rand(n, 3, size, size, requires_grad=True)
        _, cpu = best_of(
            lambda x=x: sum(v.square().mean() for v in loss_net(x).values()).backward(), 2
        )
        out[f"{size} px, {n} images"] = round(1000 * cpu / n, 2)
    return out


def breakdown(thread_counts=(1,)) -> dict:
    threads = torch.get_num_threads()
    print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}, {threads} intra-op threads, "
          f"{os.cpu_count()} cores; demo step: 64 px, batch {BATCH}, EfficientNet-Lite0", flush=True)  # fmt: skip
    out = {}
    for t in thread_counts:
        torch.set_num_threads(t)
        out[f"{t}_threads_ms"] = figures = parts()
        for name, (wall, cpu) in figures.items():
            print(f"  [{t} thread{'s' if t > 1 else ''}] {name:46s} {wall:9.2f} ms wall "
                  f"{cpu:9.2f} ms CPU", flush=True)  # fmt: skip
    torch.set_num_threads(1)
    out["loss_net_ms_per_image"] = loss_net_batching()
    print(f"  loss network, CPU ms per image: {out['loss_net_ms_per_image']}", flush=True)
    out["data_ms"] = decode_vs_memory()
    print(f"  data, per batch: {out['data_ms']}", flush=True)
    out["lightning"] = lightning_overhead()
    print(f"  today's module, 1 thread, s/step: {out['lightning']}", flush=True)
    torch.set_num_threads(threads)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[64, 256], help="none: the demo only"
    )
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 4, 9, 27])
    parser.add_argument(
        "--steps", type=int, default=None, help="steps per timing (default by size)"
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--breakdown", action="store_true", help="where a demo step's time goes")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="--breakdown at these")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo projection")
    parser.add_argument("--vmap", action="store_true", help="on a CPU, also time vmap")
    args = parser.parse_args()
    if args.breakdown:
        print(json.dumps(breakdown(args.threads), indent=2))
    else:
        results = bench_stylizer(args.sizes, args.ks, args.steps, args.repeats, args.vmap)
        if not args.no_demo:
            results["demo"] = demo_projection(args.repeats)
        print(json.dumps(results, indent=2))
