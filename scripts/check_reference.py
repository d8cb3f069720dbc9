"""Check that stylaug's TransformerNet is the reference network (pytorch/examples
fast_neural_style, the paper's code) in pixel units: with identical weights,
ours(x) == reference(255 x) / 255.

    python scripts/check_reference.py PATH   # PATH: a checkout of github.com/pytorch/examples

The reference is imported from PATH (never copied into stylaug); our weights are copied into it
parameter by parameter (both networks register the same layers in the same order).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylaug.models.transformer_net import TransformerNet  # noqa: E402


def load_reference(examples: Path):
    path = examples / "fast_neural_style" / "neural_style" / "transformer_net.py"
    if not path.is_file():
        raise SystemExit(f"{path} not found: give the root of a pytorch/examples checkout")
    spec = importlib.util.spec_from_file_location("reference_transformer_net", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TransformerNet()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("examples", type=Path, help="root of a pytorch/examples checkout")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    torch.manual_seed(0)
    ours, reference = TransformerNet().eval(), load_reference(args.examples).eval()
    theirs = reference.state_dict()
    mine = list(ours.state_dict().values())
    if len(mine) != len(theirs):
        raise SystemExit(f"different layer counts: ours {len(mine)}, reference {len(theirs)}")
    for (name, target), value in zip(theirs.items(), mine, strict=True):
        if target.shape != value.shape:
            raise SystemExit(
                f"{name}: reference {tuple(target.shape)} vs ours {tuple(value.shape)}"
            )
        target.copy_(value)
    worst = 0.0
    for trial in range(3):
        x = torch.rand(args.batch, 3, args.size, args.size)
        with torch.no_grad():
            a, b = ours(x), reference(x * 255.0) / 255.0
        diff = (a - b).abs().max().item()
        worst = max(worst, diff)
        print(f"trial {trial}: max |ours(x) - reference(255 x)/255| = {diff:.3g} "
              f"(output range {b.min().item():.3g} .. {b.max().item():.3g})")  # fmt: skip
    print(
        f"{len(mine)} tensors copied; worst difference {worst:.3g} at {args.size} px, batch {args.batch}"
    )
    if worst > 1e-5:
        raise SystemExit("the networks differ beyond float tolerance")


if __name__ == "__main__":
    main()
