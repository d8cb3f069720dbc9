"""K Johnson stylizers trained as one batched model: one optimizer step trains every network.

Each network keeps everything it would have alone - its initialisation, its own training list in
its own shuffled order, its own style Grams, its own losses - and only the work is shared. The
group's loss is the sum of the K networks' losses and no parameter feeds two of them, so each
network gets the gradient of its own loss; one Adam over all of them is K independent Adams (Adam
is elementwise, and its step count is per tensor).

How the work is shared (``batched``), chosen by measurement (``scripts/bench_stylizer.py``):

* ``"vmap"``, for a GPU: the K networks as one ``torch.func.vmap`` call over their stacked
  parameters (grouped convolutions: a few large kernels instead of K small ones that leave the
  device idle) and the frozen loss network once on all K x B images.
* ``"loop"``, for a CPU: network after network on its own batch, through ``StylizerTraining``'s
  own arithmetic, on ``threads`` Python threads of one intra-op thread each. A CPU is already
  busy with one network's dense convolutions: vmap's grouped ones run at 0.6x on AVX2, and the
  loss network (a tenth of a 64 px step) would gain a third of that tenth from larger batches
  at 64 px and lose 2x at 256 px. What pays is running independent networks on separate cores,
  with no OpenMP barrier between them (a busy machine's threads wait there for seconds), and
  each network then trains bit for bit as it would alone.

``fit_group`` is the loop (pure torch: no Trainer, whose automatic optimization would run one
backward on one thread); ``member_state``/``load_member_state`` are each network's own resumable
state (weights, Adam moments, step), so after a kill a group is rebuilt from its members, in any
grouping, and ``GroupSteps`` gives it, from its step on, the very batches it would have had.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

from stylaug.data.dataset import ImageFiles, collate_images
from stylaug.models.loss_net import (
    LossNetwork,
    content_loss,
    gram_matrix,
    style_loss,
    total_variation,
)
from stylaug.models.transformer_net import TransformerNet

# --- the data: each network's own batches, in the order its own DataLoader would give them -----


def shuffled_batches(
    images: int, batch_size: int, rng_state: torch.Tensor, persistent_workers: bool = False
) -> Iterator[list[int]]:
    """Index batches, epoch after epoch, exactly as ``DataLoader(shuffle=True, drop_last=True)``
    yields them when the global torch RNG is at ``rng_state`` as its first iterator is made.

    That is how train_stylizer's loader draws its order: seeded, networks built, then each new
    loader iterator draws the loader's base seed from the global RNG and its RandomSampler the
    epoch's permutation seed. With persistent workers the iterator (and its base seed draw) is made
    once; without, once per epoch. Here that stream runs on its own copy of the RNG, so K networks'
    orders no longer depend on each other or on anything else drawing random numbers.
    """
    sampler = BatchSampler(RandomSampler(range(images)), batch_size, drop_last=True)
    rng, first = rng_state, True
    while True:
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(rng)
            if first or not persistent_workers:
                torch.empty((), dtype=torch.int64).random_()  # the loader iterator's base seed
            epoch = iter(sampler)
            head = next(epoch)  # the sampler draws its permutation seed here
            rng = torch.get_rng_state()
        first = False
        yield head
        yield from epoch


def group_order(orders: Sequence[Iterator[list[int]]], steps: int) -> torch.Tensor:
    """(steps, K, B) image indices: step s of network k trains on its images ``order[s, k]``."""
    return torch.tensor([[next(order) for order in orders] for _ in range(steps)])


class GroupSteps(Dataset):
    """Item s: every network's batch of step s, ``(images (K, B, 3, H, W), ok (K, B))``.

    Indexed by step, so a resumed run starts at its step with the very batches an uninterrupted
    run would have seen, and DataLoader workers decode the next steps while this one trains.
    """

    def __init__(self, members: Sequence[ImageFiles], order: torch.Tensor):
        if order.shape[1] != len(members):
            raise ValueError(f"order is for {order.shape[1]} networks, got {len(members)} lists")
        self.members, self.order = list(members), order

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        batches = [
            collate_images([files[int(i)] for i in indices])
            for files, indices in zip(self.members, self.order[step], strict=True)
        ]
        return torch.stack([b[0] for b in batches]), torch.stack([b[2] for b in batches])


def group_loader(steps: GroupSteps, start: int = 0, num_workers: int = 0) -> DataLoader:
    """The group's batches from step ``start`` on, decoded ahead by ``num_workers`` processes."""
    return DataLoader(
        steps,
        batch_size=None,
        sampler=range(start, len(steps)),
        num_workers=num_workers,
        persistent_workers=False,
    )


# --- the model ----------------------------------------------------------------------------------


class StylizerGroup(nn.Module):
    """K transformer networks, one frozen loss network, and each network's own style targets.

    ``style_images[k]`` are network k's style images and ``style_blends[k]`` their weights; the
    loss weights and layers are shared by the group (grouping only networks with equal settings is
    the caller's job). Grams are computed once, one style image at a time as ``StylizerTraining``
    does, and kept in float32 buffers of shape (K, J, C, C).

    ``batched="loop"`` (CPU): ``backward`` takes network after network through
    ``StylizerTraining.losses``'s own arithmetic on its own batch, so each network is bitwise the
    one trained alone (at the same intra-op thread count), on ``threads`` Python threads of one
    intra-op thread each: independent networks need no barrier between cores, which a busy
    machine's OpenMP threads wait at. ``batched="vmap"`` (GPU): one vmapped transformer call and
    one loss-network call on all K x B images, the losses summed in another order (equal within
    float tolerance).
    """

    def __init__(
        self,
        nets: Sequence[TransformerNet],
        loss_net: LossNetwork,
        style_images: Sequence[Sequence[torch.Tensor]],
        style_blends: Sequence[Sequence[float]],
        content_layers,
        style_layers,
        *,
        content_weight: float = 1e5,
        style_weight: float = 1e10,
        tv_weight: float = 0.0,
        batched: str = "loop",
        threads: int = 1,
    ):
        super().__init__()
        if not (len(nets) == len(style_images) == len(style_blends)) or not nets:
            raise ValueError(
                f"a group needs one style list and one blend per network: got {len(nets)} "
                f"networks, {len(style_images)} style lists, {len(style_blends)} blends"
            )
        if batched not in ("loop", "vmap"):
            raise ValueError(f"batched={batched!r}: use 'loop' (CPU) or 'vmap' (GPU)")
        self.nets, self.loss_net = nn.ModuleList(nets), loss_net
        self.content_layers, self.style_layers = list(content_layers), list(style_layers)
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.batched, self.threads = batched, max(1, int(threads))
        self._pool = None
        self.blends = [[float(w) for w in weights] for weights in style_blends]
        # J = the most style images any network blends; shorter blends are padded with weight 0
        most = max(len(images) for images in style_images)
        blend = torch.zeros(len(nets), most)
        for k, weights in enumerate(self.blends):
            if len(weights) != len(style_images[k]):
                raise ValueError(f"network {k}: {len(style_images[k])} styles, blend {weights}")
            blend[k, : len(weights)] = torch.tensor(weights)
        self.register_buffer("blend", blend)
        with torch.no_grad():
            grams = {name: [] for name in self.style_layers}
            for images in style_images:
                padded = list(images) + [images[0]] * (most - len(images))
                per_image = [self.loss_net(image.unsqueeze(0)) for image in padded]
                for name in self.style_layers:
                    grams[name].append(torch.cat([gram_matrix(f[name]) for f in per_image]))
        for name in self.style_layers:
            self.register_buffer(f"gram_{name}", torch.stack(grams[name]))  # (K, J, C, C)

    def __len__(self) -> int:
        return len(self.nets)

    def style_grams(self, k: int, j: int) -> dict[str, torch.Tensor]:
        """Network k's Grams of its style image j, {layer: (C, C)}."""
        return {name: getattr(self, f"gram_{name}")[k, j] for name in self.style_layers}

    def network_losses(self, k: int, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Network k's losses on its readable images (B', 3, H, W): ``StylizerTraining.losses``,
        term for term (tests/test_stylizer_group.py holds them bitwise equal)."""
        out = self.nets[k](images)
        features = {n: v.float() for n, v in self.loss_net(out).items()}  # losses in float32
        with torch.no_grad():
            target = {n: v.float() for n, v in self.loss_net(images).items()}
        content = self.content_weight * content_loss(features, target, self.content_layers)
        style = self.style_weight * sum(
            w * style_loss(features, self.style_grams(k, j), self.style_layers)
            for j, w in enumerate(self.blends[k])
        )
        tv = self.tv_weight * total_variation(out.float()) if self.tv_weight else out.new_zeros(())
        return {"loss": content + style + tv, "content": content, "style": style, "tv": tv}

    def vmapped_losses(self, images: torch.Tensor, ok: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every network's losses (K,) at once: the K networks as one vmapped call, the loss
        network once on all K x B images, each network's means over its own readable images."""
        k, b = images.shape[:2]
        names = [name for name, _ in self.nets[0].named_parameters()]
        stacked = {
            name: torch.stack(params)
            for name, *params in zip(names, *(net.parameters() for net in self.nets), strict=True)
        }

        def one(params, x):
            return functional_call(self.nets[0], params, (x,))

        out = vmap(one)(stacked, images)
        features = self.loss_net(out.flatten(0, 1))
        with torch.no_grad():
            target = self.loss_net(images.flatten(0, 1))
        with torch.autocast(images.device.type, enabled=False):
            weight = ok.float() / ok.sum(1, keepdim=True).clamp(min=1)  # (K, B)

            def per_network(per_image: torch.Tensor) -> torch.Tensor:
                """(K*B, ...) -> (K,): the mean over each image, then over each network's
                readable images."""
                return (per_image.flatten(1).mean(1).view(k, b) * weight).sum(1)

            content = sum(
                per_network((features[n].float() - target[n].float()).square())
                for n in self.content_layers
            )
            style = 0.0
            for name in self.style_layers:
                gram = gram_matrix(features[name])  # (K*B, C, C) float32
                gram = gram.view(k, b, 1, *gram.shape[1:])
                targets = getattr(self, f"gram_{name}").unsqueeze(1)  # (K, 1, J, C, C)
                error = (gram - targets).square().mean((-2, -1))  # (K, B, J)
                style = style + per_network((error * self.blend.unsqueeze(1)).sum(-1).view(-1, 1))
            if self.tv_weight:
                out32 = out.float().flatten(0, 1)
                dx = (out32[..., :, 1:] - out32[..., :, :-1]).abs()
                dy = (out32[..., 1:, :] - out32[..., :-1, :]).abs()
                tv = self.tv_weight * (per_network(dx) + per_network(dy))
            else:
                tv = torch.zeros(k, device=images.device)
            content = self.content_weight * content
            style = self.style_weight * style
            return {"loss": content + style + tv, "content": content, "style": style, "tv": tv}

    def backward(
        self, images: torch.Tensor, ok: torch.Tensor | None = None, bf16: bool = False
    ) -> dict[str, torch.Tensor]:
        """Give every network the gradient of its own loss on its batch ``images[k]`` (K, B, 3,
        H, W); unreadable images (``ok`` False) count for nothing. Returns the detached (K,)
        losses. ``bf16`` autocasts the networks (entered here: autocast is per thread).

        A network with no readable image in its batch gets no gradient (``None``), so Adam leaves
        it as it is - as the network alone would skip the step (the group does not draw it an
        extra batch). With ``vmap`` it gets a zero gradient, and Adam's momentum still moves it.
        """
        ok = (
            torch.ones(images.shape[:2], dtype=torch.bool, device=images.device)
            if ok is None
            else ok
        )
        autocast = partial(torch.autocast, images.device.type, torch.bfloat16, enabled=bf16)
        if self.batched == "vmap":
            with autocast():
                losses = self.vmapped_losses(images, ok)
            losses["loss"].sum().backward()
            return {key: v.detach() for key, v in losses.items()}

        def run(k: int) -> dict[str, torch.Tensor]:
            with autocast():
                losses = self.readable_losses(k, images[k], ok[k])
            if losses["loss"].requires_grad:
                losses["loss"].backward()
            return {key: v.detach() for key, v in losses.items()}

        members = range(len(self))
        results = list(self.pool().map(run, members) if self.threads > 1 else map(run, members))
        return {key: torch.stack([r[key] for r in results]) for key in results[0]}

    def readable_losses(self, k: int, images: torch.Tensor, ok: torch.Tensor) -> dict:
        """``network_losses`` on the readable images of a batch (StylizerTraining.training_step
        drops the others the same way); no readable image: zero losses, no graph."""
        readable = images[ok]
        if not len(readable):
            return dict.fromkeys(("loss", "content", "style", "tv"), images.new_zeros(()))
        return self.network_losses(k, readable)

    def losses(
        self, images: torch.Tensor, ok: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Every network's losses (K,) without gradients, as ``backward`` computes them."""
        ok = (
            torch.ones(images.shape[:2], dtype=torch.bool, device=images.device)
            if ok is None
            else ok
        )
        with torch.no_grad():
            if self.batched == "vmap":
                return self.vmapped_losses(images, ok)
            results = [self.readable_losses(k, images[k], ok[k]) for k in range(len(self))]
            return {key: torch.stack([r[key] for r in results]) for key in results[0]}

    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:  # each worker thread runs its networks on one intra-op thread
            self._pool = ThreadPoolExecutor(
                self.threads, initializer=torch.set_num_threads, initargs=(1,)
            )
        return self._pool

    def optimizer(self, lr: float) -> torch.optim.Adam:
        """One Adam over every network's parameters: elementwise, so K independent Adams."""
        return torch.optim.Adam(self.nets.parameters(), lr=lr)


# --- one network's resumable state, and the loop ------------------------------------------------


def member_state(group: StylizerGroup, optimizer: torch.optim.Adam, k: int, step: int) -> dict:
    """Network k's own training state: weights, its Adam moments, and the step it reached."""
    params = list(group.nets[k].parameters())
    state = optimizer.state
    return {
        "step": int(step),
        "net": {name: p.detach().cpu().clone() for name, p in group.nets[k].state_dict().items()},
        "adam": [
            {key: v.detach().cpu().clone() for key, v in state[p].items()} if p in state else {}
            for p in params
        ],
    }


def load_member_state(
    group: StylizerGroup, optimizer: torch.optim.Adam, k: int, saved: dict
) -> None:
    """Put ``member_state``'s dict back as network k of ``group`` (any group: regrouping is fine)."""
    group.nets[k].load_state_dict(saved["net"])
    params = list(group.nets[k].parameters())
    if len(saved["adam"]) != len(params):
        raise ValueError(
            f"saved Adam state has {len(saved['adam'])} tensors, net has {len(params)}"
        )
    for p, moments in zip(params, saved["adam"], strict=True):
        if moments:
            optimizer.state[p] = {key: v.to(p.device) for key, v in moments.items()}


def fit_group(
    group: StylizerGroup,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    bf16: bool = False,
    after_step: Callable[[int, dict[str, torch.Tensor]], None] | None = None,
) -> int:
    """Train on ``batches`` (one ``(images, ok)`` per step); returns the steps taken.

    ``after_step(i, losses)`` sees the detached (K,) losses of step i: reading them (``.item()``,
    logging) is a host sync, so callers do it every few steps, not every step. ``bf16``: autocast
    the networks (Grams and losses stay float32) - only where the CPU or GPU has native bf16.
    """
    device = next(group.nets.parameters()).device
    group.nets.train()
    step = 0
    for step, (images, ok) in enumerate(batches, start=1):
        images, ok = images.to(device, non_blocking=True), ok.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        losses = group.backward(images, ok, bf16=bf16)
        optimizer.step()
        if after_step is not None:
            after_step(step, losses)
    return step
