"""Every numeric setting checked against its allowed range before a stage does any work.

Without this, ``dataset.scenario_scale=-1`` turned every count into 1 and still wrote a result row,
``stylizer.max_steps=0`` quietly trained 2500 steps, and ``classifier.lr=-1`` failed in PyTorch,
naming no setting, after the features were extracted. ``check_settings(cfg)`` runs first in every
stage function (and in the pipeline, before its first stage) and names each key, its value and
what is allowed. Nothing is clamped or reinterpreted.

``RANGES`` is the one table: a dotted key (``*`` matches one level, e.g. a quality-filter arm) and
its ``Range``. A key absent from a command's config is skipped. Every numeric key of every
command's config is in the table or in ``UNCHECKED`` (tests/core/test_settings_check.py checks).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from numbers import Real

from omegaconf import DictConfig, OmegaConf


class SettingError(ValueError):
    """One or more settings outside their allowed ranges (each named with its value)."""


@dataclass(frozen=True)
class Range:
    """What a numeric setting may be: an integer or a number between ``low`` and ``high``
    (``None``: unbounded; ``*_open``: the bound itself excluded), or one of ``special`` values
    with a stated meaning; ``null`` if ``optional``; ``each``: a list of such numbers;
    ``per_class``: also a ``{class or default: number}`` mapping."""

    integer: bool = True
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    special: dict = field(default_factory=dict)
    optional: str | None = None  # what null means, if null is allowed
    each: bool = False
    per_class: bool = False
    or_number: bool = False  # with ``each``: a single number fits too

    def fits(self, value) -> bool:
        if value is None:
            return self.optional is not None
        if self.each and isinstance(value, list | tuple):
            return all(self._number_fits(v) for v in value)
        if self.per_class and isinstance(value, dict):
            return all(self._number_fits(v) for v in value.values())
        return (not self.each or self.or_number) and self._number_fits(value)

    def _number_fits(self, v) -> bool:
        if isinstance(v, str) and v in self.special:  # a word with a stated meaning ("all")
            return True
        if isinstance(v, bool) or not isinstance(v, Real):
            return False
        if self.integer and int(v) != v:
            return False
        if v in self.special:
            return True
        low_ok = self.low is None or (v > self.low if self.low_open else v >= self.low)
        high_ok = self.high is None or (v < self.high if self.high_open else v <= self.high)
        return low_ok and high_ok

    def describe(self, key: str) -> str:
        """``stylizer.max_steps >= 1 (an integer), or -1 (epochs and min_steps decide)``."""
        if self.low is not None and self.high is not None:
            rule = (f"{key} in {'(' if self.low_open else '['}{_n(self.low)}, {_n(self.high)}"
                    f"{')' if self.high_open else ']'}")  # fmt: skip
        elif self.low is not None:
            rule = f"{key} {'>' if self.low_open else '>='} {_n(self.low)}"
        elif self.high is not None:
            rule = f"{key} {'<' if self.high_open else '<='} {_n(self.high)}"
        else:
            rule = key
        rule += " (an integer)" if self.integer else " (a number)"
        if self.each:
            rule = f"{'a number or ' if self.or_number else ''}a list, each value: {rule}"
        if self.per_class:
            rule += ", or {class or default: such a number}"
        rule += "".join(f", or {_n(v)} ({meaning})" for v, meaning in self.special.items())
        if self.optional is not None:
            rule += f", or null ({self.optional})"
        return rule


def _n(x) -> str:
    if isinstance(x, str):
        return x
    return str(int(x)) if float(x).is_integer() else str(x)


def Int(low=None, high=None, **kw) -> Range:  # noqa: N802 - reads as a type in the table
    return Range(True, low, high, **kw)


def Num(low=None, high=None, **kw) -> Range:  # noqa: N802
    return Range(False, low, high, **kw)


POSITIVE = Num(0, low_open=True)
WEIGHT = Num(0)  # a loss weight: 0 turns the term off
STEPS = Int(1, special={-1: "epochs and min_steps decide"})
SIZE = Int(16)

RANGES: dict[str, Range] = {
    "seed": Int(0),
    "data.num_workers": Int(0),
    # the data and the scenarios drawn from it
    "dataset.image_size": SIZE,
    "dataset.train_per_class": Int(1),
    "dataset.test_per_class": Int(1),
    "dataset.seed": Int(0),
    "dataset.scenario_scale": POSITIVE,
    "scenario.scale": POSITIVE,
    "scenario.train_per_class": Int(1, per_class=True),
    "scenario.val_per_class": Int(0, per_class=True, optional="val_fraction of the pool"),
    "scenario.augment_per_class": Int(0, per_class=True, optional="augment_multiple x real"),
    # scenarios relative to the data (dataset=folder)
    "scenario.ratio": Num(0, 1, low_open=True),
    "scenario.majority_per_class": Int(1, optional="every majority image"),
    "scenario.val_fraction": Num(0, 1, high_open=True),
    "scenario.augment_multiple": Num(0),
    "scenario.imbalance_factor": Num(1),
    "scenario.max_per_class": Int(1, optional="what the smallest class has"),
    "scenario.order_seed": Int(0),
    "scenario.minority_below": Num(0, 1, low_open=True),
    "scenario.shots": Int(1),
    # networks and their training
    "model.transformer.residual_blocks": Int(1),
    "stylizer.image_size": SIZE,
    "stylizer.batch_size": Int(1),
    "stylizer.epochs": Int(0),
    "stylizer.min_steps": Int(0),
    "stylizer.max_steps": STEPS,
    "stylizer.lr": POSITIVE,
    "stylizer.content_weight": WEIGHT,
    "stylizer.style_weight": WEIGHT,
    "stylizer.tv_weight": WEIGHT,
    "stylizer.style_blend": Num(0, each=True, optional="equal weights"),
    "stylizer.checkpoint_every": Int(1),
    "stylizer.group_size": Int(0, special={0: "every network of the sweep that can share a step"}),
    "stylizer.sample_images": Int(1),
    "decoder.image_size": SIZE,
    "decoder.batch_size": Int(1),
    "decoder.epochs": Int(0),
    "decoder.min_steps": Int(0),
    "decoder.max_steps": STEPS,
    "decoder.lr": POSITIVE,
    "decoder.content_weight": WEIGHT,
    "decoder.style_weight": WEIGHT,
    "decoder.checkpoint_every": Int(1),
    "decoder.sample_images": Int(1),
    # stylized sets
    "augment.alpha": Num(0, 1),
    "augment.alphas": Num(0, 1, each=True, optional="[augment.alpha]"),
    "augment.seeds": Int(0, each=True, optional="[seed]"),
    "augment.style_seed": Int(0),
    "augment.min_style_side": Int(1),
    "augment.max_per_class": Int(1, optional="as many as the scenarios need"),
    "augment.image_size": Int(16, optional="the dataset's image size"),
    "augment.batch_size": Int(1),
    "augment.jpeg_quality": Int(1, 100),
    "augment.write_threads": Int(1),
    "augment.photoreal.iterations": Int(1),
    "augment.photoreal.lr": POSITIVE,
    "augment.photoreal.content_weight": WEIGHT,
    "augment.photoreal.style_weight": WEIGHT,
    "augment.photoreal.seg_weight": WEIGHT,
    "augment.photoreal.matting_weight": WEIGHT,
    "augment.photoreal.epsilon": POSITIVE,
    "augment.photoreal.max_per_class": Int(1, optional="every image"),
    "augment.fda_beta": Num(0, 0.5, low_open=True),
    # classifier heads
    "classifier.epochs": Int(1),
    "classifier.batch_size": Int(1),
    "classifier.lr": POSITIVE,
    "classifier.weight_decay": Num(0),
    "classifier.image_size": SIZE,
    "classifier.aug_views": Int(0),
    "classifier.num_workers": Int(0),
    "classifier.robustness.severities": Int(1, 5, each=True),
    "classifier.robustness.seed": Int(0),
    "classifier.robustness.size": Int(32, optional="each image at its own size"),
    "classifier.quality_filter.*.drop_fraction": Num(0, 1, high_open=True),
    "classifier.finetune.lr": POSITIVE,
    "classifier.finetune.trainable_blocks": Int(0, special={"all": "every block"}),
    "classifier.online.p": Num(0, 1),
    "classifier.online.alpha": Num(0, 1, each=True, or_number=True),
    "classifier.online.mixstyle_alpha": POSITIVE,
    "classifier.online.pool_size": Int(1),
    "classifier.quality_filter.*.min_content_score": Num(-1, 1),
    # report
    "report.confidence": Num(0, 1, low_open=True, high_open=True),
    "report.bootstrap": Int(0),
    "report.bootstrap_seed": Int(0),
    # pipeline
    "pipeline.seeds": Int(0, each=True, optional="augment.seeds, else [seed]"),
    # stylize
    "gatys.image_size": Int(16, optional="each image at its own size"),
    "gatys.style_layer_weights": Num(0, each=True, optional="all 1"),
    "gatys.content_weight": WEIGHT,
    "gatys.style_weight": WEIGHT,
    "gatys.tv_weight": WEIGHT,
    "gatys.lr": Num(0, low_open=True, optional="1.0 for lbfgs, 0.02 for adam"),
    "gatys.iterations": Int(1),
    "johnson.batch_size": Int(1),
    "johnson.image_size": Int(16, optional="each image at its own size"),
    "segmentation.min_area": Num(0, 1),
    "photoreal.epsilon": POSITIVE,
    "style_weights": Num(0, each=True, optional="equal weights"),
    "seg_loss_weight": WEIGHT,
    "photoreal_weight": WEIGHT,
}

# numeric keys left to the library that reads them (it checks them when the object is built)
UNCHECKED = ("trainer.*", "hydra.*", "logger.*")


def rule_for(key: str) -> Range | None:
    if key in RANGES:
        return RANGES[key]
    return next((r for pattern, r in RANGES.items() if fnmatch.fnmatchcase(key, pattern)), None)


def _walk(node, prefix: str = ""):
    """(key, value) for every setting that has a rule (not descending into it), or is a leaf."""
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if rule_for(key) is None and isinstance(v, dict):
                yield from _walk(v, key)
            else:
                yield key, v


def problems(cfg: DictConfig) -> list[str]:
    """One line per setting outside its range: ``key=value is out of range: use ...``."""
    data = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    out = []
    for key, value in _walk(data):
        rule = rule_for(key)
        if rule is not None and not rule.fits(value):
            out.append(f"{key}={_shown(value)} is out of range: use {rule.describe(key)}")
    return out


def _shown(value) -> str:
    return "null" if value is None else str(value)


def check_settings(cfg: DictConfig) -> None:
    """Raise ``SettingError`` naming every numeric setting outside its range, before any work."""
    found = problems(cfg)
    if len(found) == 1:
        raise SettingError(found[0])
    if found:
        raise SettingError(f"{len(found)} settings are out of range:\n  " + "\n  ".join(found))
