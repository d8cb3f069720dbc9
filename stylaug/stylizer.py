"""One fast style-transfer network: which images it trains on, its checkpoint format, its data and
its training module.

**Which images (``stylizer.pool``).** A stylizer is a function of its training list. With
``pool=scenario`` (the default, leak-free) the class's stylizer for a (scenario, seed) trains on
exactly that scenario's training images of the class, and its style image is drawn from them; with
``pool=class`` (the paper's protocol) it trains on the class's whole training pool, which also holds
every scenario's validation images. A stylizer is named by its list (``<class>/<list id>.ckpt``), and
its random seed and default style image are drawn from the list id too, so scenarios (or seeds) with
identical lists share one stylizer, and ``pool=class`` gives one stylizer per class.

**Checkpoint.** ``artifacts/stylizers/<dataset>/<class>/<list id>.ckpt`` is a small ``torch.save``
dict - the TransformerNet weights plus plain-data metadata (class, pool, list id, style images and
their hashes, settings, which loss-network weights trained it) - so ``stylize``/``augment`` load it
without Lightning, and ``stylizer_hash`` names it in manifests. Lightning's own training checkpoints
(``last.ckpt``, for resuming) live in a separate work folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from torchvision.transforms import functional as TF

from stylaug.data.images import read_image
from stylaug.data.index import DatasetIndex
from stylaug.data.scenarios import ScenarioSplit
from stylaug.io import atomic_path, file_sha256
from stylaug.models.color import preserve_color
from stylaug.models.loss_net import (
    LossNetwork,
    content_loss,
    gram_matrix,
    style_loss,
    total_variation,
)
from stylaug.models.transformer_net import TransformerNet

FORMAT = "stylaug.stylizer/2"  # /2: output in the reference network's scale (reference(255x)/255)
OLD_FORMATS = {"stylaug.stylizer/1": "its network output was 255x the reference's scale"}
POOLS = ("scenario", "class")
LEAK_NOTE = "stylizer saw images outside the training set"


class StylizerCheckpointError(ValueError):
    """A file that should be a stylaug stylizer checkpoint but is not one."""


# --- which images a stylizer trains on ----------------------------------------------------------


def check_pool(pool: str) -> str:
    if pool not in POOLS:
        raise ValueError(
            f"stylizer.pool={pool!r} is not valid; use scenario (each scenario's own training "
            "images, leak-free) or class (the paper's protocol: the class's whole training pool)"
        )
    return pool


def training_list(index: DatasetIndex, split: ScenarioSplit | None, cls: str, pool: str) -> list:
    """The images the stylizer of ``cls`` trains on: the scenario's training list or the pool."""
    if check_pool(pool) == "class":
        return list(index.paths("train", cls))
    if split is None:
        raise ValueError("stylizer.pool=scenario needs a scenario split to take the images from")
    return list(split.train[cls])


def list_id(index: DatasetIndex, images) -> str:
    """Names a training list: the dataset (and its generator settings) and the sorted file list."""
    blob = json.dumps([index.name, index.meta.get("settings"), sorted(images)])
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def list_seed(identifier: str) -> int:
    """The stylizer's seed (initialisation, shuffling, default style image), from its list id."""
    return int(identifier[:8], 16)


def checkpoint_path(stylizer_dir, cls: str, identifier: str) -> Path:
    return Path(stylizer_dir) / cls / f"{identifier}.ckpt"


def train_command(dataset: str, root, needed: dict[str, set]) -> str:
    """The train_stylizer multirun that makes the stylizers of ``needed`` {class: {(scenario, seed)}}."""
    classes = sorted(needed)
    scenarios = sorted({s for v in needed.values() for s, _ in v if s})
    seeds = sorted({seed for v in needed.values() for _, seed in v if seed is not None})
    parts = [f"python -m stylaug.train_stylizer -m class={','.join(classes)}"]
    if scenarios:
        parts.append(f"scenario={','.join(scenarios)}")
    if seeds:
        parts.append(f"seed={','.join(map(str, seeds))}")
    parts.append(f"dataset={dataset}")
    if str(root) != ".":
        parts.append(f"paths.root={root}")
    return " ".join(parts)


# --- the checkpoint ------------------------------------------------------------------------------


def save_stylizer(path: str | os.PathLike, net: TransformerNet, metadata: dict) -> Path:
    """Write the network weights and ``metadata`` (plain Python data only) atomically."""
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "state_dict": state, "metadata": dict(metadata)}, tmp)
    return Path(path)


def load_stylizer(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> tuple[TransformerNet, dict]:
    """Load a checkpoint written by ``save_stylizer``: (network in eval mode, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no stylizer checkpoint at {path}. Train one with "
            "`python -m stylaug.train_stylizer class=<class>` (same dataset= and paths.root=)."
        )
    try:  # weights_only: a checkpoint is data, never code
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise StylizerCheckpointError(
            f"{path} is not a stylaug stylizer checkpoint: torch cannot read it "
            f"({type(err).__name__}: {err}). Point to a checkpoint written by train_stylizer."
        ) from None
    found = obj.get("format") if isinstance(obj, dict) else None
    if found in OLD_FORMATS:
        raise StylizerCheckpointError(
            f"{path} is an old stylizer checkpoint ({found}: {OLD_FORMATS[found]}); this version "
            f"reads {FORMAT}. Retrain it: `python -m stylaug.train_stylizer class=<class>` with "
            "the same settings (delete the old file or pass stylizer.force=true)."
        )
    if found != FORMAT:
        hint = (
            " It is a Lightning training checkpoint (like last.ckpt); use the <list id>.ckpt that "
            "train_stylizer writes next to the _train/ folder."
            if isinstance(obj, dict) and "pytorch-lightning_version" in obj
            else ""
        )
        raise StylizerCheckpointError(
            f"{path} is not a stylaug stylizer checkpoint (no format={FORMAT!r} marker).{hint}"
        )
    metadata = obj["metadata"]
    net = TransformerNet(int(metadata.get("residual_blocks", 5)))
    try:
        net.load_state_dict(obj["state_dict"])
    except RuntimeError as err:
        raise StylizerCheckpointError(
            f"{path}: weights do not fit a TransformerNet ({err})"
        ) from None
    return net.eval(), metadata


def stylizer_hash(path: str | os.PathLike) -> str:
    """Content hash of a checkpoint file (16 hex digits of sha256): names it in manifests."""
    return file_sha256(path)[:16]


# --- training data -------------------------------------------------------------------------------


def square_tensor(img, size: int) -> torch.Tensor:
    """PIL image -> (3, size, size) float tensor in [0, 1]: centre square, then resized. Cropping
    first keeps an extreme aspect ratio (a 1 x 4000 strip) from becoming a giant resized image."""
    side = min(img.size)
    img = TF.resize(TF.center_crop(img, [side, side]), [size, size], antialias=True)
    return TF.pil_to_tensor(img).float().div_(255.0)


class ImageList(torch.utils.data.Dataset):
    """Images of one class as [0, 1] squares; an unreadable file gives None (skip) or raises."""

    def __init__(self, files, image_size: int, on_bad_image: str = "skip"):
        self.files = [str(f) for f in files]
        self.image_size = int(image_size)
        self.on_bad_image = on_bad_image

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        img = read_image(self.files[i], self.on_bad_image)
        return None if img is None else square_tensor(img, self.image_size)


def stack_readable(batch):
    """Collate that drops skipped (None) images; an all-bad batch becomes None (step skipped)."""
    batch = [b for b in batch if b is not None]
    return torch.stack(batch) if batch else None


class StylizerData(pl.LightningDataModule):
    """One class's training images, shuffled, in full batches."""

    def __init__(
        self,
        files,
        image_size: int,
        batch_size: int,
        num_workers: int = 0,
        on_bad_image: str = "skip",
    ):
        super().__init__()
        self.dataset = ImageList(files, image_size, on_bad_image)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=True,  # instance-norm statistics and the loss scale assume full batches
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=stack_readable,
        )


# --- the training module -------------------------------------------------------------------------


class StylizerModule(pl.LightningModule):
    """Johnson et al. (2016): train a TransformerNet against a frozen perceptual loss network.

    Loss = content_weight * content loss (output vs input features) + style_weight * sum_k w_k *
    style loss against style image k's Gram matrices (weighted blending of several styles) +
    tv_weight * total variation. The style Grams are computed once, here, and kept as buffers so a
    resumed run uses exactly the targets it started with. ``preserve_color`` is applied to the
    output at inference (``stylize``), not inside the loss.
    """

    def __init__(
        self,
        style_images: list[torch.Tensor],
        style_blend: list[float],
        *,
        residual_blocks: int = 5,
        loss_arch: str = "vgg16",
        loss_weights: str = "imagenet",
        content_layers=("relu2_2",),
        style_layers=("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
        content_weight: float = 1e5,
        style_weight: float = 1e10,
        tv_weight: float = 0.0,
        lr: float = 1e-3,
        channels_last: bool = False,
        preserve_color: bool = False,
    ):
        super().__init__()
        self.net = TransformerNet(residual_blocks)
        self.content_layers = list(content_layers)
        self.style_layers = list(style_layers)
        self.loss_net = LossNetwork(
            self.content_layers + self.style_layers, loss_arch, loss_weights
        )
        self.style_blend = [float(w) for w in style_blend]
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.lr = float(lr)
        self.channels_last = bool(channels_last)
        self.preserve_color = bool(preserve_color)
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        with torch.no_grad():
            for k, image in enumerate(style_images):
                features = self.loss_net(image.unsqueeze(0))
                for name in self.style_layers:
                    self.register_buffer(f"gram{k}_{name}", gram_matrix(features[name]))

    def style_grams(self, k: int) -> dict[str, torch.Tensor]:
        return {name: getattr(self, f"gram{k}_{name}") for name in self.style_layers}

    def losses(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        out = self.net(images)
        features = {k: v.float() for k, v in self.loss_net(out).items()}  # losses in float32
        with torch.no_grad():
            target = {k: v.float() for k, v in self.loss_net(images).items()}
        content = self.content_weight * content_loss(features, target, self.content_layers)
        style = self.style_weight * sum(
            w * style_loss(features, self.style_grams(k), self.style_layers)
            for k, w in enumerate(self.style_blend)
        )
        tv = self.tv_weight * total_variation(out.float()) if self.tv_weight else out.new_zeros(())
        return {"loss": content + style + tv, "content": content, "style": style, "tv": tv}

    def training_step(self, batch, batch_idx):
        if batch is None:  # every image of this batch was unreadable (and skipped)
            return None
        losses = self.losses(batch)
        self.log("train/loss", losses["loss"], prog_bar=True, batch_size=len(batch))
        self.log_dict(
            {f"train/{k}": v for k, v in losses.items() if k != "loss"},
            prog_bar=False,
            batch_size=len(batch),
        )
        return losses["loss"]

    def configure_optimizers(self):
        return torch.optim.Adam(self.net.parameters(), lr=self.lr)

    @torch.no_grad()
    def probe(self, images: torch.Tensor) -> dict[str, float]:
        """Losses of the current network on fixed images: a noise-free before/after measure."""
        return {k: float(v) for k, v in self.losses(images.to(self.device)).items()}

    @torch.no_grad()
    def stylize(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images -> stylized [0, 1] images (colour-preserved if configured)."""
        return stylize_batch(self.net, images, self.preserve_color)


def stylize_batch(
    net: TransformerNet, images: torch.Tensor, preserve: bool = False
) -> torch.Tensor:
    """Run a stylizer on [0, 1] images; optional luminance-only output; clamp to [0, 1]."""
    out = net(images).float()
    if preserve:
        out = preserve_color(out.clamp(0, 1), images.float())
    return out.clamp_(0, 1)
