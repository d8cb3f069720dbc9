"""``augment``'s generation, per style family: what ``augment.run_predict`` feeds to
``trainer.predict`` - the items, the module, and trainer overrides.

The Johnson families run each image through its slot's stylizer (``StylizingPredictor``); the
families that pair every image with its own style image run ``adain`` and ``randomized`` through the
scenario's decoder, ``photoreal`` through batched optimisation (which optimises pixels, so
predict runs without inference mode), and ``fda`` / ``histogram_match`` through their batched
transforms (no network; the loss network only scores).
"""

from __future__ import annotations

import logging

import torch
from omegaconf import DictConfig

from stylaug.artifacts.style_families import TRANSFORM_FAMILIES
from stylaug.augment.pair_predictors import (
    AdaINPredictor,
    PairView,
    PhotorealBatch,
    PhotorealPredictor,
    TransformPredictor,
)
from stylaug.augment.set_plan import SetPlan
from stylaug.augment.stylizing_predictor import StyleScorer, StylizingPredictor
from stylaug.data.dataset import ImageFiles, SquareView, square_tensor
from stylaug.data.images import load_rgb
from stylaug.models.loss_net import LossNetwork, default_layers

log = logging.getLogger(__name__)


def style_scorer(cfg: DictConfig, stylizers: dict[str, dict], order: list[str]) -> StyleScorer:
    """The stylizers' own loss network and each one's (blended) style target."""
    metas = [stylizers[sid]["meta"] for sid in order]
    kinds = {
        (m.get("loss_net"), "random" if "random" in m.get("loss_net_weights", "") else "imagenet")
        for m in metas
    }
    if len(kinds) != 1:
        raise ValueError(
            f"the stylizers were trained with different loss networks {sorted(map(str, kinds))}; "
            "stylize them in separate augment runs, or set augment.score=false"
        )
    arch, weights = kinds.pop()
    styles = [
        {
            "images": [
                square_tensor(
                    load_rgb(s["path"]), int(m.get("image_size", cfg.stylizer.image_size))
                )
                for s in m.get("style_images", [])
            ],
            "blend": list(m.get("style_blend") or [1.0]),
            "layers": list(m.get("style_layers") or []),
        }
        for m in metas
    ]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # a random-init network is the same network for every image
        loss_net = LossNetwork(sorted({n for s in styles for n in s["layers"]}), arch, weights)
    return StyleScorer.for_styles(loss_net, styles)


def johnson_generation(cfg, jobs, plan: SetPlan, stylizers: dict, index, image_size):
    """The Johnson families: each image through its slot's stylizer (johnson_cross: another
    class's), colour-preserved for johnson_color, blended with the source by alpha."""
    a = cfg.augment
    order = list(stylizers)
    position = {sid: k for k, sid in enumerate(order)}
    sources = ImageFiles(
        [index.abspath(j.source) for j in jobs],
        SquareView(image_size),
        labels=[position[plan.slots[j.stylizer].maker.id] for j in jobs],
        keys=[j.view for j in jobs],
        on_bad_image=cfg.data.on_bad_image,
    )
    color = a.family == "johnson_color"
    module = StylizingPredictor(
        [stylizers[sid]["net"] for sid in order],
        [color or stylizers[sid]["preserve_color"] for sid in order],
        style_scorer(cfg, stylizers, order) if a.score else None,
        bool(a.channels_last),
        alpha=float(a.alpha),
    )
    return sources, module


def pair_generation(cfg: DictConfig, jobs, plan, makers: dict, index, image_size: int):
    a = cfg.augment
    if image_size % 8:
        raise ValueError(
            f"augment.family={a.family} needs an image size that is a multiple of 8 (the encoder's "
            f"1/8 features), not {image_size}; set augment.image_size"
        )
    items = ImageFiles(
        [index.abspath(j.source) for j in jobs],
        PairView(image_size, [j.view for j in jobs], [j.style for j in jobs]),
        labels=list(range(len(jobs))),
        keys=list(range(len(jobs))),
        on_bad_image=cfg.data.on_bad_image,
    )
    alphas = [float(j.alpha) for j in jobs]
    if a.family == "photoreal":
        return items, photoreal_module(cfg, alphas), {"inference_mode": False}
    if a.family in TRANSFORM_FAMILIES:
        return items, transform_module(cfg, alphas), {}
    return items, adain_module(cfg, jobs, plan, makers["decoder"], alphas), {}


def adain_module(cfg, jobs, plan, decoders: dict, alphas) -> AdaINPredictor:
    """The decoders' shared encoder (checked to be one), each job's decoder and strength."""
    metas = [d["meta"] for d in decoders.values()]
    kinds = {(m["loss_net"], m["loss_net_weights"], m["layer"], tuple(m["style_layers"]))
             for m in metas}  # fmt: skip
    if len(kinds) != 1:
        raise ValueError(
            f"the decoders were trained with different encoders {sorted(map(str, kinds))}; make "
            "their sets in separate augment runs"
        )
    arch, _, layer, style_layers = kinds.pop()
    order = list(decoders)
    position = {did: k for k, did in enumerate(order)}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # a random-init encoder is the one train_decoder built
        encoder = LossNetwork(
            list(dict.fromkeys([*style_layers, layer])), arch, cfg.model.loss_net.weights
        )
    trained = {m["loss_net_weights"] for m in metas}
    if trained != {encoder.weights}:
        raise ValueError(
            f"the decoders were trained with encoder {sorted(trained)}, but model.loss_net gives "
            f"{encoder.weights}; use the same model.loss_net as train_decoder"
        )
    which = [position[plan.slots[j.stylizer].maker.id] for j in jobs]
    nets = [decoders[did]["net"] for did in order]
    scorer = encoder if cfg.augment.score else None
    return AdaINPredictor(encoder, layer, nets, which, alphas, scorer, list(style_layers))


def photoreal_module(cfg, alphas) -> PhotorealPredictor:
    """Gatys layers of the loss network, the segmenter, and the photoreal settings."""
    p = cfg.augment.photoreal
    arch, weights = cfg.model.loss_net.arch, cfg.model.loss_net.weights
    content_layers, style_layers = default_layers(arch, "gatys")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        loss_net = LossNetwork(content_layers + style_layers, arch, weights)
        segmenter = None
        if float(p.seg_weight):
            from stylaug.models.segmentation import build_segmenter

            segmenter = build_segmenter(p.seg_arch, p.seg_weights, "augment.photoreal.seg_weights")
    settings = {k: p[k] for k in ("iterations", "lr", "content_weight", "style_weight",
                                  "seg_weight", "matting_weight", "epsilon")}  # fmt: skip
    optimiser = PhotorealBatch(loss_net, content_layers, style_layers, segmenter, settings)
    scorer = loss_net if cfg.augment.score else None
    return PhotorealPredictor(optimiser, alphas, scorer, style_layers)


def transform_module(cfg, alphas) -> TransformPredictor:
    """fda / histogram_match; the loss network's Gatys style layers score the images."""
    a = cfg.augment
    scorer, layers = None, []
    if a.score:
        arch, weights = cfg.model.loss_net.arch, cfg.model.loss_net.weights
        _, layers = default_layers(arch, "gatys")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # a random-init scorer is the same network in every run
            scorer = LossNetwork(layers, arch, weights)
    return TransformPredictor(str(a.family), alphas, float(a.fda_beta), scorer, layers)
