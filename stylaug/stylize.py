"""``python -m stylaug.stylize``: stylize arbitrary images.

``method=gatys content=PATH style=PATH output=PATH`` optimises the pixels of one image (Gatys et al.
2016; the loss code is shared with ``train_stylizer``); ``style=[a.png,b.png] style_weights=[..]``
blends several styles; ``mask=PATH`` limits the style to a region; ``compare=true`` writes a grid
of content, style and several variants side by side. ``method=johnson checkpoint=PATH
input=FILE_OR_DIR output=DIR`` applies a trained stylizer to one image or a folder, batched, at
any image size. ``preserve_color=true`` keeps the content's colours in both modes.

Every Gatys output gets a ``<output>.history.json`` beside it (loss parts per iteration, the
settings, which VGG weights were used); a rerun with the same settings skips finished outputs.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image, ImageDraw
from tqdm import tqdm

from stylaug import gatys, segmentation
from stylaug.data.images import IMAGE_SUFFIXES, check_on_bad_image, load_rgb, read_image
from stylaug.io import atomic_path, atomic_write_json, file_sha256
from stylaug.models.color import preserve_color
from stylaug.models.loss_net import LossNetwork, default_layers
from stylaug.photoreal import PhotorealTerm
from stylaug.runtime import finish_logger, make_logger
from stylaug.stylizer import load_stylizer, stylize_batch, stylizer_hash

log = logging.getLogger(__name__)

WRITE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# Options a compare=true variant may set besides the gatys.* knobs.
PHOTOREAL_OPTIONS = ("seg_loss_weight", "photoreal_weight", "semantic_style")
VARIANT_OPTIONS = ("preserve_color", "style_weights", *PHOTOREAL_OPTIONS)
RANDOM_NOTE = "random-init network(s): a smoke result, not a real stylization"


# ---------------------------------------------------------------- images, masks, outputs


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def fit_size(size: tuple[int, int], long_side: int | None) -> tuple[int, int]:
    """(W, H) scaled so that the longer side is ``long_side`` (None: unchanged)."""
    w, h = size
    if not long_side:
        return w, h
    scale = long_side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def to_tensor(img: Image.Image) -> torch.Tensor:
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pil(image: torch.Tensor) -> Image.Image:
    arr = image.detach().float().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(np.rint(arr * 255).astype(np.uint8))


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


def load_mask(path, size_hw: tuple[int, int], key: str = "mask") -> torch.Tensor:
    """A grayscale mask (white = stylize) as (1, 1, H, W) in [0, 1] at ``size_hw``.

    A mask of another size is resized when its aspect ratio matches the image's (within 2%);
    a different aspect ratio would shift the region, so that is an error instead.
    """
    try:
        img = load_rgb(path).convert("L")
    except ValueError as err:
        raise ValueError(f"{key}={path}: {err}") from None
    h, w = size_hw
    if img.size != (w, h):
        mw, mh = img.size
        if abs(mw / mh - w / h) > 0.02 * (w / h):
            raise ValueError(
                f"{key}={path} is {mw}x{mh} but the image it masks is {w}x{h} (after resizing): "
                f"the aspect ratios differ, so resizing would move the region. Make a mask with "
                f"the image's aspect ratio (or exactly its size)."
            )
        log.info("resizing %s %s from %dx%d to %dx%d", key, path, mw, mh, w, h)
        img = img.resize((w, h), Image.BILINEAR)
    mask = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)[None, None]
    if float(mask.max()) <= 0:
        raise ValueError(f"{key}={path} is all black: it selects no region to stylize")
    return mask


def check_output(path, key: str = "output") -> Path:
    if path is None:
        raise ValueError(f"{key} is not set: give {key}=PATH for the result image")
    path = Path(path)
    if path.suffix.lower() not in WRITE_SUFFIXES:
        raise ValueError(f"{key}={path}: use an image file name ending in one of {WRITE_SUFFIXES}")
    return path


def save_image(image: torch.Tensor | Image.Image, path) -> Path:
    img = to_pil(image) if isinstance(image, torch.Tensor) else image
    with atomic_path(path) as tmp:
        img.save(tmp)
    return Path(path)


def file_digest(path) -> str | None:
    return None if path is None else file_sha256(path)[:16]


def comparison_grid(items: list[tuple[str, Image.Image]], cell: int = 192, title: str = ""):
    """Images side by side, each with its caption underneath (like the papers' figures)."""
    top, caption = (18 if title else 0), 30
    grid = Image.new("RGB", (len(items) * cell, top + cell + caption), "white")
    draw = ImageDraw.Draw(grid)
    if title:
        draw.text((4, 3), title, fill="black")
    for i, (label, img) in enumerate(items):
        img = img.convert("RGB")
        scale = cell / max(img.size)
        thumb = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
        grid.paste(thumb, (i * cell + (cell - thumb.width) // 2, top + (cell - thumb.height) // 2))
        chars = cell // 6
        for j, line in enumerate([label[k : k + chars] for k in range(0, len(label), chars)][:2]):
            draw.text((i * cell + 3, top + cell + 2 + 13 * j), line, fill="black")
    return grid


def device_for(cfg: DictConfig) -> torch.device:
    accelerator = cfg.trainer.get("accelerator", "auto")
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


# ---------------------------------------------------------------- Gatys


class GatysInputs:
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


_VGG_NETS: dict = {}  # frozen, never modified: safe to share between runs in one process


class VGGCache:
    """One frozen VGG per (arch, weights, layers, seed, device): compare=true variants (and
    repeated calls in one process) share it instead of rebuilding a 140M-parameter VGG."""

    def __init__(self, device):
        self.device = device

    def get(self, g: DictConfig, seed: int) -> LossNetwork:
        layers = tuple(g.content_layers) + tuple(g.style_layers)
        key = (g.arch, g.weights, layers, int(seed), str(self.device))
        if key not in _VGG_NETS:
            if len(_VGG_NETS) >= 4:
                _VGG_NETS.clear()
            torch.manual_seed(seed)  # random-init weights are reproducible too
            _VGG_NETS[key] = LossNetwork(list(layers), g.arch, g.weights, "gatys.weights").to(
                self.device
            )
        return _VGG_NETS[key]


_SEGMENTERS: dict = {}


def get_segmenter(cfg: DictConfig, device) -> segmentation.Segmenter:
    s = cfg.segmentation
    key = (s.arch, s.weights, int(cfg.seed), str(device))
    if key not in _SEGMENTERS:
        _SEGMENTERS.clear()
        torch.manual_seed(cfg.seed)
        _SEGMENTERS[key] = segmentation.build_segmenter(s.arch, s.weights).to(device)
    return _SEGMENTERS[key]


def gatys_settings(cfg: DictConfig, inputs: GatysInputs) -> dict:
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


def run_gatys(cfg: DictConfig, inputs: GatysInputs, vggs: VGGCache, desc: str = "gatys"):
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


def semantic_regions(cfg, inputs: GatysInputs, vgg, segmenter) -> list[gatys.Region]:
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


def gatys_to_file(cfg: DictConfig, inputs: GatysInputs, vggs: VGGCache, output: Path, desc):
    """Run (or skip, when finished with the same settings) one Gatys result and write it."""
    settings = gatys_settings(cfg, inputs)
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


def stylize_gatys(cfg: DictConfig) -> dict:
    output = check_output(cfg.output)
    variants = [dict(v) for v in (cfg.get("variants") or [])] or (
        default_variants(cfg) if cfg.compare else [{}]
    )
    variant_cfgs = [apply_variant(cfg, v) for v in variants]
    for vc in variant_cfgs:
        check_gatys(vc.gatys)
        check_options(vc)
    inputs = GatysInputs(cfg)  # reads and checks every input file before any optimisation
    for vc in variant_cfgs:
        inputs.style_weights(vc)
    vggs = VGGCache(device_for(cfg))
    for vc in variant_cfgs:  # missing weights fail here, not after the first variant
        vggs.get(vc.gatys, vc.seed)
        if needs_segmenter(vc):
            get_segmenter(vc, vggs.device)
    if not cfg.compare:
        gatys_to_file(variant_cfgs[0], inputs, vggs, output, "gatys")
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
            (label, gatys_to_file(vc, inputs, vggs, path, f"variant {i + 1}/{len(variants)}"))
        )
        outputs.append(path)
    weights = vggs.get(variant_cfgs[0].gatys, cfg.seed).weights
    title = f"Gatys comparison ({weights})" + (" - SMOKE RESULT" if "random" in weights else "")
    save_image(comparison_grid(items, title=title), output)
    log.info("comparison grid: %s (variants: %s)", output, [variant_label(v) for v in variants])
    return {"output": output, "variants": outputs}


# ---------------------------------------------------------------- Johnson


def list_inputs(path, exclude: Path | None = None) -> tuple[Path, list[Path]]:
    """(base folder, image files) for ``input=FILE_OR_DIR``; outputs inside it are left out."""
    if path is None:
        raise ValueError("input is not set: give input=PATH to an image file or a folder")
    path = Path(path)
    if path.is_file():
        return path.parent, [path]
    if not path.is_dir():
        raise ValueError(f"input={path} does not exist: give an image file or a folder of images")
    out = exclude.resolve() if exclude is not None else None
    files = sorted(
        p
        for p in path.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and not (out is not None and p.resolve().is_relative_to(out))
    )
    if not files:
        raise ValueError(f"input={path} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    return path, files


def load_checkpoint(path):
    if path is None:
        raise ValueError("checkpoint is not set: give checkpoint=PATH to a trained stylizer")
    return load_stylizer(path)  # clear errors for a missing file or a file of another kind


def _size_batches(sizes: dict[Path, tuple[int, int]], batch_size: int) -> list[list[Path]]:
    """Group files of equal size so they can be stacked into one batch."""
    groups: dict[tuple[int, int], list[Path]] = {}
    for path, size in sizes.items():
        groups.setdefault(size, []).append(path)
    return [
        files[i : i + batch_size]
        for files in groups.values()
        for i in range(0, len(files), batch_size)
    ]


def stylize_johnson(cfg: DictConfig) -> dict:
    """Apply a trained stylizer to one image or a folder; one PNG per input under ``output``."""
    check_on_bad_image(cfg.data.on_bad_image)
    if cfg.output is None:
        raise ValueError("output is not set: give output=DIR for the stylized images")
    out_dir = Path(cfg.output)
    if out_dir.suffix.lower() in WRITE_SUFFIXES:
        raise ValueError(f"output={out_dir} looks like a file; method=johnson writes to a folder")
    net, meta = load_checkpoint(cfg.checkpoint)
    base, files = list_inputs(cfg.input, exclude=out_dir)
    j = cfg.johnson
    batch_size = int(j.batch_size)
    if batch_size < 1:
        raise ValueError(f"johnson.batch_size={batch_size} must be at least 1")
    mask_path = cfg.get("mask")
    settings = {
        "method": "johnson",
        "checkpoint": stylizer_hash(cfg.checkpoint),
        "image_size": j.image_size,
        "preserve_color": bool(cfg.preserve_color),
        "mask": file_digest(mask_path),
    }
    stamp = out_dir / ".stylize.json"
    resume = stamp.exists() and json.loads(stamp.read_text()).get("settings") == settings
    atomic_write_json(stamp, {"settings": settings, "stylizer": _jsonable(meta)})

    def target(path: Path) -> Path:
        return out_dir / path.relative_to(base).with_suffix(".png")

    todo = [p for p in files if not (resume and target(p).exists())]
    sizes, skipped = {}, []
    for path in todo:  # headers only: group by size, find unreadable files early
        try:
            with Image.open(path) as img:
                sizes[path] = fit_size(img.size, j.image_size)
        except Exception:
            if read_image(path, cfg.data.on_bad_image) is None:
                skipped.append(path)
    device = device_for(cfg)
    net = net.to(device).eval()
    masks: dict[tuple[int, int], torch.Tensor] = {}
    if mask_path:
        for w, h in set(sizes.values()):  # checked for every size before any stylization
            masks[(w, h)] = load_mask(mask_path, (h, w)).to(device)
    written = []
    batches = _size_batches(sizes, batch_size)
    with torch.inference_mode():
        for batch in tqdm(batches, desc="stylizing", unit="batch", disable=not cfg.progress):
            images, paths = [], []
            for path in batch:
                img = read_image(path, cfg.data.on_bad_image)
                if img is None:
                    skipped.append(path)
                    continue
                size = sizes[path]
                images.append(
                    to_tensor(img if img.size == size else img.resize(size, Image.BICUBIC))
                )
                paths.append(path)
            if not images:
                continue
            x = torch.cat(images).to(device)
            y = stylize_batch(net, x, cfg.preserve_color)
            if mask_path:
                m = masks[sizes[paths[0]]]
                y = m * y + (1 - m) * x
            for path, out in zip(paths, y, strict=True):
                written.append(save_image(out[None], target(path)))
    log.info(
        "stylized %d images into %s (%d already done, %d unreadable skipped)",
        len(written),
        out_dir,
        len(files) - len(todo),
        len(skipped),
    )
    if cfg.compare:
        shown = [p for p in files if target(p).exists()][:8]
        items = [(p.name, load_rgb(p)) for p in shown] + [
            (f"stylized {p.name}", load_rgb(target(p))) for p in shown
        ]
        save_image(
            comparison_grid(items, cell=128, title="inputs | stylized"), out_dir / "compare.png"
        )
    return {"output": out_dir, "written": written, "skipped": skipped}


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


# ---------------------------------------------------------------- entry point


def log_result(cfg: DictConfig, result: dict) -> None:
    """Final losses / counts and the written image into the experiment logger (wandb offline by
    default); the files beside the output stay the record, the logger is for browsing."""
    out = Path(result["output"])
    logger = make_logger(cfg, name=out.stem, group="stylize", job_type=f"stylize-{cfg.method}")
    if not logger:
        return
    try:
        if cfg.method == "johnson":
            logger.log_metrics(
                {
                    "johnson/written": len(result["written"]),
                    "johnson/skipped": len(result["skipped"]),
                }
            )
            image = out / "compare.png"
        else:
            for i, path in enumerate(result.get("variants") or [out]):
                record = json.loads(history_path(Path(path)).read_text())
                final = record["history"][-1]
                logger.log_metrics(
                    {f"gatys/final_{k}": v for k, v in final.items() if k != "iter"}, step=i
                )
            image = out
        if image.exists() and hasattr(logger, "log_image"):
            logger.log_image(key=f"stylize/{cfg.method}", images=[Image.open(image)])
    finally:
        logger.finalize("success")  # CSVLogger writes its file here
        finish_logger(logger)


def stylize(cfg: DictConfig) -> dict:
    if cfg.method == "gatys":
        result = stylize_gatys(cfg)
    elif cfg.method == "johnson":
        result = stylize_johnson(cfg)
    else:
        raise ValueError(f"method={cfg.method!r} is not valid; use method=gatys or method=johnson")
    log_result(cfg, result)
    return result


@hydra.main(version_base="1.3", config_path="../conf", config_name="stylize")
def main(cfg: DictConfig) -> None:
    stylize(cfg)


if __name__ == "__main__":
    main()
