"""MixStyle (Zhou et al. 2021): mix the feature statistics of a batch's samples inside a network.

Instance statistics of early CNN features (channel means and standard deviations) carry style.
With probability ``p`` per batch, each sample's features are normalised by its own statistics and
re-scaled by a mix of its statistics and those of another sample of the batch (a random
permutation), with a weight lambda ~ Beta(alpha, alpha) per sample. No parameters; the identity in
eval mode. ``insert_mixstyle`` puts it after the early blocks of a ResNet or an EfficientNet-Lite
(the paper's best place: after the first two or three stages) with forward hooks, so the network's
own modules and ``state_dict`` stay as they are.
"""

from __future__ import annotations

import numpy as np
import torch
from efficientnet_lite_pytorch import EfficientNet
from torch import nn
from torchvision.models import ResNet

# after the 1/4- and 1/8-resolution stages: ResNet's layer1, layer2; EfficientNet-Lite0's blocks
# 2 and 4 (stylaug.models.loss_net names them block2, block4)
EARLY_BLOCKS = {ResNet: ("layer1", "layer2"), EfficientNet: ("_blocks.2", "_blocks.4")}


class MixStyle(nn.Module):
    def __init__(
        self,
        p: float = 0.5,
        alpha: float = 0.1,
        eps: float = 1e-6,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if not 0.0 <= p <= 1.0 or alpha <= 0:
            raise ValueError(f"MixStyle: p={p} must be in [0, 1] and alpha={alpha} > 0")
        self.p, self.alpha, self.eps, self.generator = float(p), float(alpha), float(eps), generator

    def extra_repr(self) -> str:
        return f"p={self.p}, alpha={self.alpha}"

    def mixing(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(lambda (n,), permutation (n,)); Beta draws via NumPy, seeded from the torch stream
        (torch's Beta sampler takes no generator)."""
        g, device = self.generator, self.draw_device()
        seed = int(torch.randint(2**62, (), generator=g, device=device))
        lam = torch.from_numpy(np.random.default_rng(seed).beta(self.alpha, self.alpha, size=n))
        return lam.float(), torch.randperm(n, generator=g, device=device)

    def draw_device(self) -> torch.device:
        return self.generator.device if self.generator is not None else torch.device("cpu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or len(x) < 2:
            return x
        if torch.rand((), generator=self.generator, device=self.draw_device()) >= self.p:
            return x
        lam, perm = (t.to(x.device) for t in self.mixing(len(x)))
        features = x.float()
        mean = features.mean(dim=(2, 3), keepdim=True).detach()
        std = (features.var(dim=(2, 3), keepdim=True) + self.eps).sqrt().detach()
        lam = lam.view(-1, 1, 1, 1)
        mixed_mean = lam * mean + (1 - lam) * mean[perm]
        mixed_std = lam * std + (1 - lam) * std[perm]
        return ((features - mean) / std * mixed_std + mixed_mean).to(x.dtype)

    def hook(self, module, args, output):
        """A forward hook: replace ``module``'s output by its mixed version."""
        return self(output)


def early_blocks(model: nn.Module) -> list[str]:
    """Names (in ``model.named_modules()``) of the early blocks of the first ResNet or
    EfficientNet-Lite found in ``model``."""
    for prefix, module in model.named_modules():
        for kind, blocks in EARLY_BLOCKS.items():
            if isinstance(module, kind):
                return [f"{prefix}.{b}" if prefix else b for b in blocks]
    raise ValueError(
        f"insert_mixstyle: no torchvision ResNet or EfficientNet-Lite in {type(model).__name__}; "
        "pass layers=[...] (names from model.named_modules())"
    )


def insert_mixstyle(
    model: nn.Module,
    layers: list[str] | None = None,
    p: float = 0.5,
    alpha: float = 0.1,
    generator: torch.Generator | None = None,
) -> list[MixStyle]:
    """A MixStyle after each of ``layers`` (default: ``early_blocks(model)``), registered on
    ``model`` as ``mixstyle_<layer>`` so ``model.train()`` / ``eval()`` switch them."""
    modules = dict(model.named_modules())
    names = list(layers) if layers is not None else early_blocks(model)
    unknown = [name for name in names if name not in modules]
    if unknown:
        raise ValueError(f"insert_mixstyle: {type(model).__name__} has no modules {unknown}")
    inserted = []
    for name in names:
        mix = MixStyle(p, alpha, generator=generator)
        model.add_module(f"mixstyle_{name.replace('.', '_')}", mix)
        modules[name].register_forward_hook(mix.hook)
        inserted.append(mix)
    return inserted
