"""``johnson``: the per-class Johnson networks (``train_stylizer``), each image stylized by the
network of its own class - the paper's augmentation, applied on the fly.

One pass per class present in the batch (a handful), never one per image. Classes without a
network are left as they are (e.g. only the minority class, as ``biased_case2`` stylizes).
``alpha`` blends the network's output with the source, as ``augment`` does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch
from torch import nn

from stylaug.models.stylizer import load_stylizer, stylize_batch
from stylaug.models.transformer_net import TransformerNet
from stylaug.transforms.family import StyleFamily


class JohnsonStyle(StyleFamily):
    """``stylizers``: {class index: TransformerNet or the path of a stylizer checkpoint}."""

    needs_labels = True

    def __init__(self, stylizers: Mapping, preserve_color: bool = False):
        super().__init__()
        if not stylizers:
            raise ValueError("johnson: stylizers is empty; pass {class index: checkpoint path}")
        nets = {}
        for cls, net in stylizers.items():
            if not isinstance(cls, int) or cls < 0:
                raise ValueError(
                    f"johnson: stylizers keys must be class indices (int >= 0), got {cls!r}"
                )
            if isinstance(net, (str, os.PathLike)):
                net = load_stylizer(net)[0]
            if not isinstance(net, TransformerNet):
                raise ValueError(f"johnson: class {cls}'s stylizer is a {type(net).__name__}")
            nets[str(cls)] = net.eval().requires_grad_(False)
        self.nets = nn.ModuleDict(nets)
        self.register_buffer("classes", torch.tensor(sorted(stylizers), dtype=torch.long))
        self.preserve_color = bool(preserve_color)

    def applicable(self, labels, n) -> torch.Tensor:
        if labels is None:
            raise ValueError("johnson stylizes each image with its class's network: pass labels")
        return torch.isin(labels, self.classes.to(labels.device))

    def forward(self, content, style, alpha, labels=None) -> torch.Tensor:
        out = content.clone()
        for cls in labels.unique().tolist():
            if str(cls) not in self.nets:
                continue
            chosen = labels == cls
            stylized = stylize_batch(self.nets[str(cls)], content[chosen], self.preserve_color)
            out[chosen] = stylized
        alpha = alpha.to(out).reshape(-1, 1, 1, 1)
        return content + alpha * (out - content)
