"""A style arm's quality filter: leave out the stylized images that kept too little content.

``classifier.quality_filter.<arm>`` (``arm`` a style arm, in ``classifier.style_sources``) sets one
of

* ``min_content_score: X`` - drop every stylized image whose content score (``augment``'s edge
  correlation with its source, ``stylaug.models.image_scores``) is below X;
* ``drop_fraction: F`` - drop the lowest-scoring ``floor(F * n)`` of each class's n stylized
  images (ties broken by file name, so the choice is deterministic).

The filter works per class on exactly the images the scenario would add, and says what it did:
per class, how many were available, dropped and kept (kept + dropped = available; kept is what the
head trains on and what the row's ``counts.augmented`` says), and the score range on both sides of
the cut. The rule is part of the arm's identity (its ``config_hash``), so a changed rule reruns it.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from stylaug.artifacts.manifest import MANIFEST, quality_of
from stylaug.classify.arms import StyleSet
from stylaug.core.io import read_jsonl

RULE_KEYS = ("min_content_score", "drop_fraction")


def filter_rule(classifier_cfg: DictConfig, arm: str) -> dict | None:
    """The arm's checked rule ({key: value} with exactly one key), or None if it has none."""
    filters = classifier_cfg.get("quality_filter") or {}
    if arm not in filters or filters[arm] is None:
        return None
    raw = filters[arm]
    rule = OmegaConf.to_container(raw) if OmegaConf.is_config(raw) else dict(raw)
    where = f"classifier.quality_filter.{arm}"
    if arm not in classifier_cfg.style_sources:
        raise ValueError(f"{where}: {arm!r} is not a style arm (not in classifier.style_sources)")
    unknown = sorted(set(rule) - set(RULE_KEYS))
    given = {k: v for k, v in rule.items() if v is not None and k in RULE_KEYS}
    if unknown or len(given) != 1:
        raise ValueError(
            f"{where}={rule} must set exactly one of {list(RULE_KEYS)} "
            f"(unknown keys: {unknown or 'none'})"
        )
    ((key, value),) = given.items()
    value = float(value)
    if key == "drop_fraction" and not 0 <= value < 1:
        raise ValueError(f"{where}.drop_fraction={value} must be in [0, 1)")
    return {key: value}


def check_filters(classifier_cfg: DictConfig) -> None:
    """Every ``classifier.quality_filter`` entry names a style arm and one valid rule."""
    for arm in classifier_cfg.get("quality_filter") or {}:
        filter_rule(classifier_cfg, arm)


def manifest_entries(folder: str | Path, items: list[tuple[Path, str]]) -> list[dict]:
    """The manifest line of each stylized item (path, class), in the items' order."""
    folder = Path(folder)
    by_output = {folder / e["output"]: e for e in read_jsonl(folder / MANIFEST)}
    return [by_output[Path(p)] for p, _ in items]


def _dropped(scored: list[tuple[float, str]], rule: dict) -> set[str]:
    """The outputs a rule drops from one class's (score, output) pairs."""
    if "min_content_score" in rule:
        return {out for score, out in scored if score < rule["min_content_score"]}
    k = math.floor(rule["drop_fraction"] * len(scored))
    return {out for _, out in sorted(scored)[:k]}


def apply_filter(style: StyleSet, folder, rule: dict, arm: str) -> tuple[StyleSet, dict]:
    """The style set without the images the rule drops, and the count of what it did."""
    entries = manifest_entries(folder, style.items)
    unscored = [e["output"] for e in entries if e.get("content_score") is None]
    if unscored:
        raise ValueError(
            f"classifier.quality_filter.{arm}: {len(unscored)} stylized images in {folder} have no "
            f"content score (e.g. {unscored[0]}); they were made with augment.score=false. Re-run "
            "augment with augment.score=true, or drop the filter."
        )
    by_class: dict[str, list[dict]] = {}
    for (_, cls), e in zip(style.items, entries, strict=True):
        by_class.setdefault(cls, []).append(e)
    dropped, per_class, kept_entries = set(), {}, {}
    for cls, es in by_class.items():
        scored = [(float(e["content_score"]), e["output"]) for e in es]
        gone = _dropped(scored, rule)
        kept = [s for s, out in scored if out not in gone]
        lost = [s for s, out in scored if out in gone]
        per_class[cls] = {
            "available": len(es),
            "dropped": len(gone),
            "kept": len(es) - len(gone),
            "lowest_kept_score": round(min(kept), 4) if kept else None,
            "highest_dropped_score": round(max(lost), 4) if lost else None,
        }
        dropped |= gone
        kept_entries[cls] = [e for e in es if e["output"] not in gone]
    items = [
        item for item, e in zip(style.items, entries, strict=True) if e["output"] not in dropped
    ]
    report = {
        "rule": rule,
        "available": len(style.items),
        "dropped": len(style.items) - len(items),
        "kept": len(items),
        "per_class": per_class,
        "quality_before": style.quality,
    }
    filtered = dataclasses.replace(
        style,
        items=items,
        fingerprint=[*style.fingerprint, {"quality_filter": rule}],
        quality={cls: quality_of(es) for cls, es in kept_entries.items()},
    )
    return filtered, report


def filtered_style(cfg: DictConfig, arm: str, style: StyleSet) -> tuple[StyleSet, dict | None]:
    """``style`` as the arm's quality filter leaves it (unchanged without a filter)."""
    rule = filter_rule(cfg.classifier, arm)
    if rule is None:
        return style, None
    return apply_filter(style, cfg.classifier.style_sources[arm], rule, arm)


def random_drop(style: StyleSet, filter_report: dict, seed: int, arm: str) -> tuple[StyleSet, dict]:
    """The quality filter's control: from each class, drop as many images as the filter dropped,
    chosen at random (from ``seed`` and the arm's name) instead of by content score."""
    rng = np.random.default_rng([int(seed), zlib.crc32(arm.encode())])
    by_class: dict[str, list[int]] = {}
    for i, (_, cls) in enumerate(style.items):
        by_class.setdefault(cls, []).append(i)
    gone, per_class = set(), {}
    for cls, idx in by_class.items():
        k = int(filter_report["per_class"].get(cls, {}).get("dropped", 0))
        gone |= {idx[j] for j in rng.choice(len(idx), size=k, replace=False)}
        per_class[cls] = {"available": len(idx), "dropped": k, "kept": len(idx) - k}
    items = [item for i, item in enumerate(style.items) if i not in gone]
    rule = {"random_drop_like": filter_report["rule"]}
    report = {
        "rule": rule,
        "available": len(style.items),
        "dropped": len(gone),
        "kept": len(items),
        "per_class": per_class,
        "quality_before": style.quality,
    }
    return dataclasses.replace(style, items=items, fingerprint=[*style.fingerprint, rule]), report
