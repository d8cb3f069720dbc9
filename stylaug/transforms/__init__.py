"""On-the-fly style augmentation for any PyTorch training loop.

``StyleAugment`` stylizes a collated batch (B, 3, H, W) in [0, 1] on its own device, each sample
with probability ``p``: ``adain`` / ``randomized`` (a ``train_decoder`` decoder and a style pool),
``johnson`` (the per-class ``train_stylizer`` networks, given the labels), ``fda`` (Fourier
amplitude swap) and ``histogram_match``. ``MixStyle`` mixes feature statistics inside a network;
``insert_mixstyle`` puts it after a backbone's early blocks.

Example - a plain training loop (the loader yields un-normalised [0, 1] batches; normalise after
augmenting)::

    from stylaug.transforms import StyleAugment

    styles = torch.stack([style_a, style_b])           # (K, 3, H, W) in [0, 1]
    augment = StyleAugment("fda", styles=styles, p=0.5, alpha=(0.5, 1.0),
                           generator=torch.Generator(device).manual_seed(0)).to(device)
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        images = augment(images, labels)               # on the device, one batched pass
        loss = F.cross_entropy(model(normalize(images)), labels)
        optimizer.zero_grad(); loss.backward(); optimizer.step()

Other families: ``StyleAugment("adain", stylizer="artifacts/decoders/<dataset>/<list id>.ckpt",
styles=styles)``, ``StyleAugment("johnson", stylizers={0: "<class 0>.ckpt", 1: ...})``; MixStyle
after a ResNet's or EfficientNet-Lite's early blocks: ``insert_mixstyle(model)``.
"""

from stylaug.transforms.adain_style import AdaINStyle, load_adain, style_statistics
from stylaug.transforms.family import StyleFamily
from stylaug.transforms.fourier import FourierStyle, fourier_domain_adaptation
from stylaug.transforms.histogram import HistogramStyle, channel_quantiles, match_histograms
from stylaug.transforms.johnson_style import JohnsonStyle
from stylaug.transforms.mixstyle import MixStyle, early_blocks, insert_mixstyle
from stylaug.transforms.style_augment import FAMILIES, Draw, StyleAugment

__all__ = [
    "FAMILIES",
    "AdaINStyle",
    "Draw",
    "FourierStyle",
    "HistogramStyle",
    "JohnsonStyle",
    "MixStyle",
    "StyleAugment",
    "StyleFamily",
    "channel_quantiles",
    "early_blocks",
    "fourier_domain_adaptation",
    "insert_mixstyle",
    "load_adain",
    "match_histograms",
    "style_statistics",
]
