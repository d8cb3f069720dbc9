"""What a stylized set says about itself, beside its images: per slot, the manifest keys that name
what made its images (network hash, settings id, family, strength, what training cost), and after a
run its summary, ``info.json`` (per-class quality, compute) and sample grids.

``augment`` plans and makes the images; this module describes them, so ``classify`` and the reports
can tell sets apart and rerun only what a settings change touches (``settings_id``).
"""

from __future__ import annotations

import collections
import logging
from pathlib import Path

from omegaconf import DictConfig
from PIL import Image

from stylaug.artifacts.manifest import MANIFEST, quality_of
from stylaug.artifacts.style_families import FAMILY_KEYS, family_settings
from stylaug.augment.set_plan import ImageJob, SetPlan
from stylaug.core.cost import set_compute
from stylaug.core.identity import RESULT_FREE_KEYS, digest, node_settings
from stylaug.core.io import atomic_write_json, read_jsonl
from stylaug.data.images import load_rgb, read_image
from stylaug.data.scenarios import apply_view
from stylaug.data.visual import data_notes, log_notes, write_grid

log = logging.getLogger(__name__)

# augment.* keys that cannot change an output image (everything else is part of its settings id)


def settings_id(cfg: DictConfig, image_size: int, preserve: bool) -> str:
    """What else (beyond the stylizer) determines an output file; a change regenerates it. The
    family's own keys enter through ``family_settings`` (nothing for the paper's johnson set)."""
    a = node_settings(cfg.augment, RESULT_FREE_KEYS["augment"] + FAMILY_KEYS)
    extra = family_settings(cfg.augment)
    return digest([a, image_size, bool(preserve)] + ([extra] if extra else []), 12)


def slot_extras(cfg, index, plan: SetPlan, makers: dict, image_size: int) -> dict[str, dict]:
    """Per slot, the manifest keys that describe what made its images (and what that cost)."""
    a = cfg.augment
    family, plain = a.family, a.family == "johnson" and float(a.alpha) == 1.0
    # network-free families: named by their settings (photoreal, fda, histogram_match)
    photoreal_hash = f"{family}:" + digest(family_settings(a))
    extra = {}
    for sid in {j.stylizer for jobs in plan.jobs.values() for j in jobs}:
        slot = plan.slots[sid]
        maker = makers.get(slot.maker.kind, {}).get(slot.maker.id, {})
        preserve = family == "johnson_color" or (
            slot.maker.kind == "stylizer" and maker["preserve_color"]
        )
        compute = maker.get("compute") or {}
        e = {
            "stylizer": maker.get("hash", photoreal_hash),
            "pool": maker.get("pool", cfg.stylizer.pool),
            "settings": settings_id(cfg, image_size, preserve),
            "loss_net_weights": maker.get("loss_net_weights", cfg.model.loss_net.weights),
            "preserve_color": preserve,
            "dataset": index.name,
            "train_seconds": compute.get("train_seconds", 0.0 if not maker else None),
            "train_device": (compute.get("device") or {}).get("kind"),
        }
        if not plain:
            e.update(family=family, alpha=float(a.alpha))
        if family == "johnson_cross":
            e["style_class"] = slot.maker.cls
        if family == "johnson_cross" or slot.style_list is not None:
            e["style_seed"] = int(a.style_seed)
        if slot.maker.kind == "decoder":
            e["decoder_id"] = slot.maker.id
        if slot.style_list is not None:
            e["style_pool"] = str(a.style_pool)
        if family == "photoreal":
            e["loss_net_weights"] = photoreal_weights(cfg)
        extra[sid] = e
    return extra


def photoreal_weights(cfg) -> str:
    """How the photoreal family's networks are described (loss network and segmenter)."""
    p = cfg.augment.photoreal
    seg = f", segmenter {p.seg_arch}:{p.seg_weights}" if float(p.seg_weight) else ""
    return f"{cfg.model.loss_net.arch}:{cfg.model.loss_net.weights}{seg}"


# --- after a run --------------------------------------------------------------------------------


def summarize(
    plan: SetPlan, jobs: list[ImageJob], rows: dict, seconds: float, out_dir: Path
) -> dict:
    planned = [j for v in plan.jobs.values() for j in v]
    made = {r["output"] for r in rows.values()}
    written = sum(j.output in made for j in jobs)
    return {
        "planned": len(planned),
        "written": written,
        "skipped": len(planned) - len(jobs),
        "failed": sum(j.output not in made for j in planned),
        "seconds": round(seconds, 3),
        "images_per_s": round(written / seconds, 2) if written and seconds > 0 else 0.0,
        "out_dir": str(out_dir),
    }


def quality_by_class(plan: SetPlan, rows: dict) -> dict:
    """Per class and for the whole set: the content score and Gram-distance ratio."""
    outputs = {j.output: j.cls for v in plan.jobs.values() for j in v}
    groups: dict[str, list[dict]] = collections.defaultdict(list)
    for r in rows.values():
        if r["output"] in outputs:
            groups[outputs[r["output"]]].append(r)
            groups["all"].append(r)
    return {cls: quality_of(rs) for cls, rs in groups.items()}


def write_info(out_dir, index, a, image_size, makers, plan, rows, summary) -> None:
    quality = quality_by_class(plan, rows)
    used = {k: v for kind in makers.values() for k, v in kind.items()}
    weights = {s["loss_net_weights"] for s in used.values()}
    folder = str(a.style_pool) if str(a.style_pool).startswith("folder=") else None
    pools = {  # a folder pool once; scenario pools per style list
        folder or key: {"images": len(p.images), "skipped": p.skipped}
        for key, p in plan.pools.items()
    }
    atomic_write_json(
        out_dir / "info.json",
        {
            "dataset": index.name,
            "tag": a.tag,
            "family": a.family,
            "alpha": float(a.alpha),
            "notes": data_notes(index.name, *weights),
            "image_size": image_size,
            "format": a.format,
            "stylizers": {
                sid: {k: v for k, v in s.items() if k not in ("net", "meta")}
                for sid, s in used.items()
            },
            "style_pools": pools or None,
            "counts": {c: sum(1 for r in rows.values() if r["class"] == c) for c in plan.jobs},
            "quality": quality,
            "compute": set_compute(rows),
            "last_run": summary,
        },
    )
    for cls, q in quality.items():
        if q["content_score"] is not None:
            log.info(
                "quality %s: content score (edge correlation) %.3f, Gram distance to the style "
                "%.3f x the sources' (%d images)",
                cls, q["content_score"], q["gram_ratio"] or 0, q["images"],
            )  # fmt: skip
    skipped = sum(len(p.skipped) for p in plan.pools.values())
    if skipped:
        log.warning("style pool: %d images skipped (unreadable or too small; info.json)", skipped)
    log_notes(log, data_notes(index.name, *weights))


def write_samples(index, plan: SetPlan, rows, out_dir: Path, tag: str, per_class: int = 6):
    """source | stylized rows per class, from what is on disk."""
    by_output = {r["output"]: r for r in rows.values()}
    grid_rows = []
    for cls, jobs in plan.jobs.items():
        done = [by_output[j.output] for j in jobs if j.output in by_output][:per_class]
        pairs = [(read_image(index.abspath(r["source"]), "skip"), r) for r in done]
        pairs = [(apply_view(im, r["view"]), r) for im, r in pairs if im is not None]  # rows align
        if pairs:
            grid_rows += [
                (f"{cls}", [im for im, _ in pairs]),
                ("  stylized", [Image.open(out_dir / r["output"]) for _, r in pairs]),
            ]
    if not grid_rows:
        return None
    return write_grid(
        grid_rows, out_dir / "samples.png", f"augmented set {index.name}/{tag}", index.name
    )


def write_family_grid(index, sets: list[DictConfig], per_class: int = 2):
    """The same sources in every set made by this run, one row per set (``family_samples.png``
    beside the sets): what each family and strength does to the same image."""
    manifests = {c.augment.tag: read_jsonl(Path(c.augment.out_dir) / MANIFEST) for c in sets}
    keyed = {
        tag: {(r["class"], r["source"], int(r["view"])): r for r in rows}
        for tag, rows in manifests.items()
    }
    common = set.intersection(*(set(k) for k in keyed.values())) if keyed else set()
    chosen = []
    for cls in index.classes:
        chosen += sorted(k for k in common if k[0] == cls)[:per_class]
    if not chosen:
        return None
    first = sets[0].augment
    sources = [apply_view(load_rgb(index.abspath(src)), view) for _, src, view in chosen]
    rows = [("source", sources)] + [
        (tag, [Image.open(Path(c.augment.out_dir) / keyed[tag][k]["output"]) for k in chosen])
        for tag, c in zip(keyed, sets, strict=True)
    ]
    path = Path(first.out_dir).parent / "family_samples.png"
    title = (
        f"style families on the same sources ({', '.join(c for c, _, _ in chosen[::per_class])})"
    )
    return write_grid(rows, path, title, index.name, label_width=150)
