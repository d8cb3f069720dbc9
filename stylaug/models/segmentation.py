"""Semantic segmentation for photorealistic style transfer: a frozen torchvision model, the
segmentation-consistency loss, and the semantic regions of the segmentation-augmented style loss.

* ``seg_loss_weight``: the review paper's method (its Fig. 3d) - the MSE between the per-pixel class
  probabilities of the content image (computed once) and of the current image, so that sky stays
  sky and sea stays sea.
* ``semantic_style``: Luan et al. (2017) eqs. 7-9 - Gram matrices per semantic region, with the
  regions from the segmentation model's labels or from user-given label images.

Weights come through torchvision's weights API like every other network here: ``pretrained`` loads
the COCO-with-VOC-labels weights from ``$TORCH_HOME/hub/checkpoints`` (or downloads them), offline
with no file is a clear error naming it; ``random`` is explicit random init, recorded.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import segmentation as seg

from stylaug.data.images import load_rgb
from stylaug.models.gatys import Region, style_grams
from stylaug.models.weights import IMAGENET_MEAN, IMAGENET_STD, checkpoint_file, weights_missing

SEG_WEIGHT_CHOICES = ("pretrained", "random")
SEG_ARCHS = {
    "deeplabv3_resnet50": (
        seg.deeplabv3_resnet50,
        seg.DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1,
    ),
    "deeplabv3_mobilenet_v3_large": (
        seg.deeplabv3_mobilenet_v3_large,
        seg.DeepLabV3_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1,
    ),
    "fcn_resnet50": (seg.fcn_resnet50, seg.FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1),
    "lraspp_mobilenet_v3_large": (
        seg.lraspp_mobilenet_v3_large,
        seg.LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1,
    ),
}
NUM_CLASSES = 21  # the VOC label set of torchvision's segmentation weights


class Segmenter(nn.Module):
    """Frozen segmentation net: [0, 1] images -> per-pixel class probabilities (N, K, H, W)."""

    def __init__(self, model: nn.Module, weights: str):
        super().__init__()
        self.model, self.weights = model, weights
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)  # frozen: batch-norm statistics never change

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.model((images - self.mean) / self.std)["out"]
        return logits.softmax(dim=1)


def build_segmenter(
    arch: str = "deeplabv3_resnet50",
    weights: str = "pretrained",
    config_key: str = "segmentation.weights",
) -> Segmenter:
    if arch not in SEG_ARCHS:
        raise ValueError(
            f"segmentation.arch={arch!r} is unknown; choose one of {sorted(SEG_ARCHS)}"
        )
    if weights not in SEG_WEIGHT_CHOICES:
        raise ValueError(f"{config_key}={weights!r} is not valid; use one of {SEG_WEIGHT_CHOICES}")
    builder, pretrained = SEG_ARCHS[arch]
    if weights == "random":  # weights_backbone=None: no backbone download either
        model = builder(weights=None, weights_backbone=None, num_classes=NUM_CLASSES)
        return Segmenter(model, f"{arch}:random-init")
    file = checkpoint_file(pretrained)
    try:
        model = builder(weights=pretrained, progress=False, weights_backbone=None)
    except Exception as err:  # URLError, socket errors, a broken partial download
        raise weights_missing(
            f"{arch} segmentation weights ({pretrained})", file, err, config_key, False
        ) from err
    return Segmenter(model, f"{arch}:{pretrained} ({file.name})")


class SegmentationTerm:
    """A Gatys loss term: MSE of class probabilities, the content's computed once."""

    def __init__(self, segmenter: Segmenter, content: torch.Tensor):
        self.segmenter = segmenter
        with torch.no_grad():
            self.target = segmenter(content)

    def __call__(self, image: torch.Tensor, features=None) -> torch.Tensor:
        return F.mse_loss(self.segmenter(image), self.target)


# ---------------------------------------------------------------- semantic regions


def predicted_labels(segmenter: Segmenter, image: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) image -> (H, W) label map (the most probable class per pixel)."""
    with torch.no_grad():
        return segmenter(image).argmax(dim=1)[0]


def label_image(path, size_hw: tuple[int, int], key: str, max_regions: int = 32) -> torch.Tensor:
    """A user label image (flat colours, one per region) -> (H, W) label map of colour codes.

    Resized with nearest neighbour (so no new colours appear); the same colour in the content and
    the style label image is the same region. Anti-aliased or JPEG masks have too many colours.
    """
    try:  # full resolution: a reduced decode would average the flat colours into new ones
        img = load_rgb(path, max_side=1 << 16)
    except ValueError as err:
        raise ValueError(f"{key}={path}: {err}") from None
    h, w = size_hw
    if img.size != (w, h):
        img = img.resize((w, h), 0)  # Image.NEAREST
    arr = np.asarray(img, dtype=np.int64)
    codes = arr[..., 0] * 65536 + arr[..., 1] * 256 + arr[..., 2]
    n = len(np.unique(codes))
    if n > max_regions:
        raise ValueError(
            f"{key}={path} has {n} colours; a label image needs flat colours, one per region "
            f"(at most {max_regions}). Save it as PNG without anti-aliasing."
        )
    return torch.from_numpy(codes)


def semantic_regions(
    content_labels: torch.Tensor,
    style_labels: torch.Tensor,
    style_features: dict,
    layers,
    min_area: float = 0.01,
) -> list[Region]:
    """Pair each content region with the same label in the style image (Luan et al. eq. 8).

    A content label covering less than ``min_area`` of the content, or (nearly) absent from the
    style image, has no style region to match: those pixels form one remaining region matched with
    the whole style image. Regions are weighted by their share of the content image.
    """
    device = next(iter(style_features.values())).device
    regions, rest = [], torch.zeros_like(content_labels, dtype=torch.bool)
    for label in torch.unique(content_labels).tolist():
        in_content = content_labels == label
        in_style = style_labels == label
        share = in_content.float().mean().item()
        if share < min_area or in_style.float().mean().item() < min_area:
            rest |= in_content
            continue
        style_mask = in_style[None, None].float().to(device)
        regions.append(
            Region(
                in_content[None, None].float().to(device),
                style_grams(style_features, layers, style_mask),
                share,
            )
        )
    if rest.any():
        regions.append(
            Region(
                rest[None, None].float().to(device),
                style_grams(style_features, layers),
                rest.float().mean().item(),
            )
        )
    return regions
