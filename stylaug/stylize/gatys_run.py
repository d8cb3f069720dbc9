"""``python -m stylaug.stylize method=gatys content=PATH style=PATH output=PATH``: optimise the
pixels of one image (Gatys et al. 2016; the loss code is shared with ``train_stylizer``).

``style=[a.png,b.png] style_weights=[..]`` blends several styles; ``mask=PATH`` limits the style to
a region; ``compare=true`` writes a grid of content, style and several variants side by side; the
photorealistic options (``seg_loss_weight``, ``photoreal_weight``, ``semantic_style``) add the
terms of ``stylaug.models.segmentation`` and ``stylaug.models.photoreal_loss``. Every output gets a
``<output>.history.json`` beside it (loss parts per iteration, the settings, which network weights
were used); a rerun with the same settings skips finished outputs.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from stylaug.core.io import atomic_write_json, file_digest
from stylaug.core.runtime import device_for
from stylaug.data.images import fit_size, load_mask, load_rgb
from stylaug.data.visual import RANDOM_NOTE, comparison_grid, save_image, to_pil, to_tensor
from stylaug.models import gatys, segmentation
from stylaug.models.color import preserve_color
from stylaug.models.loss_net import LossNetwork, default_layers
from stylaug.models.photoreal_loss import PhotorealTerm

log = logging.getLogger(__name__)

WRITE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# Options a compare=true variant may set besides the gatys.* knobs.
PHOTOREAL_OPTIONS = ("seg_loss_weight", "photoreal_weight", "semantic_style")
VARIANT_OPTIONS = ("preserve_color", "style_weights", *PHOTOREAL_OPTIONS)


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def load_image(path, key: str, long_side: int | None = None) -> torch.Tensor:
    """Read ``path`` as a (1, 3, H, W) tensor in [0, 1]; the error names the config key."""
    if path is None:
        raise ValueError(f"{key} is not set: give {key}=PATH to an image file")
    try:
        img = load_rgb(path)
    except ValueError as err:
        raise ValueError(f"{key}={path}: {err}") from None
    size = fit_size(img.size, long_side)
    if size != img.size:
        img = img.resize(size, Image.BICUBIC)
    return to_tensor(img)


def check_output(path, key: str = "output") -> Path:
    if path is None:
        raise ValueError(f"{key} is not set: give {key}=PATH for the result image")
    path = Path(path)
    if path.suffix.lower() not in WRITE_SUFFIXES:
        raise ValueError(f"{key}={path}: use an image file name ending in one of {WRITE_SUFFIXES}")
    return path


class Inputs:
    """Content, styles and mask, read and checked once, before any optimisation."""

    def __init__(self, cfg: DictConfig):
        g = cfg.gatys
        self.content_path = cfg.content
        self.content = load_image(cfg.content, "content", g.image_size)
        self.style_paths = _as_list(cfg.style)
        if not self.style_paths:
            raise ValueError("style is not set: give style=PATH (or style=[a.png,b.png])")
        self.styles = [
            load_image(p, f"style[{i}]" if len(self.style_paths) > 1 else "style", g.image_size)
            for i, p in enumerate(self.style_paths)
        ]
        self.mask = None
        if cfg.get("mask"):
            self.mask = load_mask(cfg.mask, tuple(self.content.shape[-2:]))
        seg = cfg.segmentation
        self.label_maps = None  # user label images for semantic_style (else: the segmenter's)
        if bool(seg.content_mask) != bool(seg.style_mask):
            raise ValueError(
                "segmentation.content_mask and segmentation.style_mask go together: give both "
                "label images (same colour = same region), or neither to use the segmentation model"
            )
        if seg.content_mask:
            self.label_maps = (
                segmentation.label_image(
                    seg.content_mask, tuple(self.content.shape[-2:]), "segmentation.content_mask"
                ),
                segmentation.label_image(
                    seg.style_mask, tuple(self.styles[0].shape[-2:]), "segmentation.style_mask"
                ),
            )
        self.digests = {
            "content": file_digest(cfg.content),
            "style": [file_digest(p) for p in self.style_paths],
            "mask": file_digest(cfg.get("mask")),
            "content_labels": file_digest(seg.content_mask),
            "style_labels": file_digest(seg.style_mask),
        }
        self._laplacians: dict = {}

    def photoreal_term(self, epsilon: float, device) -> tuple[PhotorealTerm, dict]:
        """The content's matting Laplacian, built once per epsilon (and timed)."""
        key = (float(epsilon), str(device))
        if key not in self._laplacians:
            start = time.perf_counter()
            term = PhotorealTerm(self.content.to(device), float(epsilon))
            info = {
                "epsilon": float(epsilon),
                "nnz": int(term.laplacian.values().numel()),
                "megabytes": round(term.megabytes, 2),
                "build_seconds": round(time.perf_counter() - start, 3),
            }
            log.info("matting Laplacian: %s", info)
            self._laplacians[key] = (term, info)
        return self._laplacians[key]

    def style_weights(self, cfg: DictConfig) -> list[float]:
        weights = _as_list(cfg.get("style_weights")) or [1.0] * len(self.styles)
        if len(weights) != len(self.styles) or any(float(w) < 0 for w in weights):
            raise ValueError(
                f"style_weights={list(weights)} must give one non-negative weight per style image "
                f"({len(self.styles)} given: {self.style_paths})"
            )
        if sum(float(w) for w in weights) <= 0:
            raise ValueError(f"style_weights={list(weights)} must not all be zero")
        return [float(w) for w in weights]


def check_options(cfg: DictConfig) -> None:
    """The photorealistic options (issue 8) of one run or variant."""
    for key in ("seg_loss_weight", "photoreal_weight"):
        if float(cfg[key]) < 0:
            raise ValueError(f"{key}={cfg[key]} must be >= 0 (0 turns the option off)")
    if float(cfg.photoreal_weight) and float(cfg.photoreal.epsilon) <= 0:
        raise ValueError(f"photoreal.epsilon={cfg.photoreal.epsilon} must be > 0")
    if cfg.semantic_style and len(_as_list(cfg.style)) != 1:
        raise ValueError(
            "semantic_style=true takes exactly one style image (its regions are matched)"
        )


def needs_segmenter(cfg: DictConfig) -> bool:
    return bool(float(cfg.seg_loss_weight)) or (
        bool(cfg.semantic_style) and not cfg.segmentation.content_mask
    )


def check_gatys(g: DictConfig) -> None:
    """Catch bad knobs before loading networks or reading images."""
    if g.optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"gatys.optimizer={g.optimizer!r} is not valid; use lbfgs or adam")
    if g.init not in ("content", "noise"):
        raise ValueError(f"gatys.init={g.init!r} is not valid; use content or noise")
    if int(g.iterations) < 1:
        raise ValueError(f"gatys.iterations={g.iterations} must be at least 1")
    lw = g.get("style_layer_weights")
    if lw is not None and len(lw) != len(g.style_layers):
        raise ValueError(
            f"gatys.style_layer_weights has {len(lw)} entries but gatys.style_layers has "
            f"{len(g.style_layers)} ({list(g.style_layers)}): give one weight per style layer "
            "(or null for all 1)"
        )


_LOSS_NETS: dict = {}  # frozen, never modified: safe to share between runs in one process


class LossNetworks:
    """One frozen VGG per (arch, weights, layers, seed, device): compare=true variants (and
    repeated calls in one process) share it instead of rebuilding a 140M-parameter VGG."""

    def __init__(self, device):
        self.device = device

    def get(self, g: DictConfig, seed: int) -> LossNetwork:
        layers = tuple(g.content_layers) + tuple(g.style_layers)
        key = (g.arch, g.weights, layers, int(seed), str(self.device))
        if key not in _LOSS_NETS:
            if len(_LOSS_NETS) >= 4:
                _LOSS_NETS.clear()
            torch.manual_seed(seed)  # random-init weights are reproducible too
            _LOSS_NETS[key] = LossNetwork(list(layers), g.arch, g.weights, "gatys.weights").to(
                self.device
            )
        return _LOSS_NETS[key]


_SEGMENTERS: dict = {}


def get_segmenter(cfg: DictConfig, device) -> segmentation.Segmenter:
    s = cfg.segmentation
    key = (s.arch, s.weights, int(cfg.seed), str(device))
    if key not in _SEGMENTERS:
        _SEGMENTERS.clear()
        torch.manual_seed(cfg.seed)
        _SEGMENTERS[key] = segmentation.build_segmenter(s.arch, s.weights).to(device)
    return _SEGMENTERS[key]


def result_settings(cfg: DictConfig, inputs: Inputs) -> dict:
    """Everything the result depends on: a rerun with equal settings can skip the work."""
    return {
        "method": "gatys",
        "seed": int(cfg.seed),
        "inputs": inputs.digests,
        "style_weights": inputs.style_weights(cfg),
        "options": {
            "preserve_color": bool(cfg.preserve_color),
            "seg_loss_weight": float(cfg.seg_loss_weight),
            "photoreal_weight": float(cfg.photoreal_weight),
            "semantic_style": bool(cfg.semantic_style),
        },
        "gatys": OmegaConf.to_container(cfg.gatys, resolve=True),
        "segmentation": OmegaConf.to_container(cfg.segmentation, resolve=True)
        if needs_segmenter(cfg) or cfg.semantic_style
        else None,
        "photoreal": OmegaConf.to_container(cfg.photoreal, resolve=True)
        if float(cfg.photoreal_weight)
        else None,
    }


def history_path(output: Path) -> Path:
    return output.with_name(output.stem + ".history.json")


def run_gatys(cfg: DictConfig, inputs: Inputs, vggs: LossNetworks, desc: str = "gatys"):
    """One optimisation with ``cfg``'s settings; returns (image, history, record)."""
    g = cfg.gatys
    device = vggs.device
    vgg = vggs.get(g, cfg.seed)
    content = inputs.content.to(device)
    with torch.no_grad():
        content_features = vgg(content)
        grams = [gatys.style_grams(vgg(s.to(device)), g.style_layers) for s in inputs.styles]
    target = gatys.blend_grams(grams, inputs.style_weights(cfg))
    mask = None if inputs.mask is None else inputs.mask.to(device)
    layer_weights = None if g.style_layer_weights is None else list(g.style_layer_weights)
    record = {"loss_net": vgg.weights}
    segmenter = get_segmenter(cfg, device) if needs_segmenter(cfg) else None
    if segmenter is not None:
        record["segmentation"] = segmenter.weights
    regions = None
    if cfg.semantic_style:
        regions = semantic_regions(cfg, inputs, vgg, segmenter)
        record["regions"] = len(regions)
    terms = gatys.gatys_terms(
        content_features, target, g.content_layers, g.style_layers, layer_weights, mask, regions
    )
    weights = {"content": g.content_weight, "style": g.style_weight, "tv": g.tv_weight}
    if float(cfg.seg_loss_weight):
        terms["seg"] = segmentation.SegmentationTerm(segmenter, content)
        weights["seg"] = float(cfg.seg_loss_weight)
    if float(cfg.photoreal_weight):
        terms["photoreal"], record["laplacian"] = inputs.photoreal_term(
            cfg.photoreal.epsilon, device
        )
        weights["photoreal"] = float(cfg.photoreal_weight)
    if g.init == "content":
        init = content
    else:
        torch.manual_seed(cfg.seed)
        init = torch.rand_like(content)
    image, history = gatys.optimise(
        init, vgg, terms, weights, g.optimizer, int(g.iterations), g.lr, cfg.progress, desc
    )
    if cfg.preserve_color:
        image = preserve_color(image, content).clamp(0, 1)
    record["loss_weights"] = weights
    if "random" in vgg.weights or "random" in record.get("segmentation", ""):
        record["note"] = RANDOM_NOTE
    return image.cpu(), history, record


def semantic_regions(cfg, inputs: Inputs, vgg, segmenter) -> list[gatys.Region]:
    """Regions for the segmentation-augmented style loss: user label images or the segmenter's."""
    device = inputs.content.device if segmenter is None else segmenter.mean.device
    style = inputs.styles[0].to(vgg.mean.device)
    if inputs.label_maps is not None:
        content_labels, style_labels = inputs.label_maps
    else:
        content_labels = segmentation.predicted_labels(segmenter, inputs.content.to(device))
        style_labels = segmentation.predicted_labels(segmenter, inputs.styles[0].to(device))
    with torch.no_grad():
        style_features = vgg(style)
    regions = segmentation.semantic_regions(
        content_labels.cpu(),
        style_labels.cpu(),
        style_features,
        cfg.gatys.style_layers,
        float(cfg.segmentation.min_area),
    )
    if inputs.mask is not None:  # mask=PATH still limits where any style goes
        for region in regions:
            region.content_mask = region.content_mask * inputs.mask.to(region.content_mask)
    return regions


def write_result(cfg: DictConfig, inputs: Inputs, vggs: LossNetworks, output: Path, desc):
    """Run (or skip, when finished with the same settings) one Gatys result and write it."""
    settings = result_settings(cfg, inputs)
    hist = history_path(output)
    if output.exists() and hist.exists():
        try:
            done = json.loads(hist.read_text()).get("settings") == settings
        except json.JSONDecodeError:
            done = False
        if done:
            log.info("%s is already done with these settings; skipping", output)
            return load_rgb(output)
    image, history, record = run_gatys(cfg, inputs, vggs, desc)
    save_image(image, output)
    atomic_write_json(hist, {"settings": settings, **record, "history": history})
    last = history[-1]
    log.info(
        "wrote %s (%s); final loss %s",
        output,
        record["loss_net"],
        ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k != "iter"),
    )
    if "note" in record:
        log.warning("%s: %s", output, record["note"])
    return to_pil(image)


def apply_variant(cfg: DictConfig, variant) -> DictConfig:
    """A copy of ``cfg`` with one compare=true variant's settings (gatys knobs or options)."""
    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    g = out.gatys  # null layers: the loss network's Gatys defaults
    g.content_layers, g.style_layers = default_layers(
        g.arch, "gatys", g.content_layers, g.style_layers
    )
    for key, value in dict(variant).items():
        name = key[len("gatys.") :] if key.startswith("gatys.") else key
        if name in out.gatys:
            out.gatys[name] = value
        elif name in VARIANT_OPTIONS:
            out[name] = value
        else:
            raise ValueError(
                f"compare variant {dict(variant)}: unknown setting {key!r}; use a gatys.* knob "
                f"({', '.join(out.gatys)}) or one of {', '.join(VARIANT_OPTIONS)}"
            )
    return out


def default_variants(cfg: DictConfig) -> list[dict]:
    """Without explicit variants: with photorealistic options on, the review paper's Fig. 3 (plain
    Gatys, then each option on its own); otherwise three style weights around the configured one."""
    off = {"seg_loss_weight": 0.0, "photoreal_weight": 0.0, "semantic_style": False}
    on = {k: cfg[k] for k in PHOTOREAL_OPTIONS if cfg[k]}
    if on:
        return [dict(off)] + [{**off, k: v} for k, v in on.items()]
    w = float(cfg.gatys.style_weight)
    return [{"style_weight": w / 100}, {"style_weight": w}, {"style_weight": w * 100}]


def variant_label(variant: dict) -> str:
    def fmt(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    shown = {k: v for k, v in variant.items() if not (k in PHOTOREAL_OPTIONS and not v)}
    if not shown and any(k in PHOTOREAL_OPTIONS for k in variant):
        return "plain Gatys"
    return ", ".join(f"{k}={fmt(v)}" for k, v in shown.items()) or "gatys"


def run(cfg: DictConfig) -> dict:
    output = check_output(cfg.output)
    variants = [dict(v) for v in (cfg.get("variants") or [])] or (
        default_variants(cfg) if cfg.compare else [{}]
    )
    variant_cfgs = [apply_variant(cfg, v) for v in variants]
    for vc in variant_cfgs:
        check_gatys(vc.gatys)
        check_options(vc)
    inputs = Inputs(cfg)  # reads and checks every input file before any optimisation
    for vc in variant_cfgs:
        inputs.style_weights(vc)
    vggs = LossNetworks(device_for(cfg))
    for vc in variant_cfgs:  # missing weights fail here, not after the first variant
        vggs.get(vc.gatys, vc.seed)
        if needs_segmenter(vc):
            get_segmenter(vc, vggs.device)
    if not cfg.compare:
        write_result(variant_cfgs[0], inputs, vggs, output, "gatys")
        return {"output": output, "history": history_path(output)}
    items = [("content", to_pil(inputs.content))]
    items += [
        (f"style {i + 1}" if len(inputs.styles) > 1 else "style", to_pil(s))
        for i, s in enumerate(inputs.styles)
    ]
    outputs = []
    for i, (variant, vc) in enumerate(zip(variants, variant_cfgs, strict=True)):
        path = output.with_name(f"{output.stem}.v{i}{output.suffix}")
        label = variant_label(variant)
        items.append(
            (label, write_result(vc, inputs, vggs, path, f"variant {i + 1}/{len(variants)}"))
        )
        outputs.append(path)
    weights = vggs.get(variant_cfgs[0].gatys, cfg.seed).weights
    title = f"Gatys comparison ({weights})" + (" - SMOKE RESULT" if "random" in weights else "")
    save_image(comparison_grid(items, title=title), output)
    log.info("comparison grid: %s (variants: %s)", output, [variant_label(v) for v in variants])
    return {"output": output, "variants": outputs}
