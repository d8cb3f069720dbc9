"""How many images of each class a scenario trains on, validates on and stylizes.

Two kinds of scenario config (``conf/scenario/*.yaml``):

* the paper's four (no ``kind``): counts written for Places365's 5000 images per class, times
  ``scenario.scale``; ``biased_case*`` name Places365's ``hot_spring``, so on a dataset without
  that class they are an error that points to ``imbalanced``;
* defined relative to the data, for any dataset (``kind``):

  - ``imbalanced``: the classes in ``scenario.minority`` get ``ratio`` x the majority's count;
    the majority count is ``majority_per_class`` or, if null, as many as every majority class has;
  - ``longtail``: class i of C in ``order`` (head first) gets n_max * rho^(-i / (C - 1)) images,
    rounded down (Cui et al. 2019's CIFAR-LT rule), rho = ``imbalance_factor``; n_max is
    ``max_per_class`` or, if null, what the smallest class has; ``order`` is a list of every
    class, or null for an order drawn from ``order_seed`` (fixed across run seeds, so a class
    keeps its place in the tail for every seed); the minority classes are those below
    ``minority_below`` x n_max;
  - ``fewshot``: ``shots`` images per class; no minority.

  Validation: ``val_per_class`` images of every class (the same count for each, so model selection
  is not biased toward the head), or, if null, ``val_fraction`` of the smallest class's training
  pool (at least one). Stylized images: ``augment_per_class`` (a number, or ``{class: n,
  default: n}``), or, if null, ``augment_multiple`` x the class's real training count (at least
  one), for ``augment_classes``: ``all`` or only the ``minority``.

Counts the data cannot supply are errors naming the class, what was asked and what exists.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from stylaug.data.index import DatasetIndex

RELATIVE_KINDS = ("imbalanced", "longtail", "fewshot")
RELATIVE_HINT = (
    "For your own classes use a scenario defined relative to the data: scenario=imbalanced "
    "scenario.minority=[<class>,...] scenario.ratio=0.25, scenario=longtail "
    "scenario.imbalance_factor=10, or scenario=fewshot scenario.shots=4."
)


@dataclass
class ScenarioCounts:
    train: dict[str, int]
    val: dict[str, int]
    augment: dict[str, int]
    minority: list[str]
    label: str  # the scenario as rows and reports name it (with its parameter: fewshot_k4)
    scale: float | None = None  # the paper's scenarios: counts x this


def half_up(x: float) -> int:
    """Round to the nearest count, halves up (Python's round(2.5) is 2)."""
    return int(math.floor(x + 0.5))


def scaled(count: int, scale: float) -> int:
    """Scale a paper count to the dataset size; a non-zero count never scales to zero."""
    if count <= 0:
        return 0
    return max(1, int(round(count * scale)))


def _per_class(value, cls: str) -> int:
    """A count may be one number for every class or a {class: number} mapping."""
    if isinstance(value, int):
        return value
    if value is None:
        return 0
    if cls not in value:
        return int(value.get("default", 0))
    return int(value[cls])


def scenario_counts(index: DatasetIndex, cfg) -> ScenarioCounts:
    kind = cfg.get("kind")
    if kind is None:
        return paper_counts(index, cfg)
    if kind not in RELATIVE_KINDS:
        raise ValueError(
            f"scenario {cfg.name!r} has kind={kind!r}; known kinds: {list(RELATIVE_KINDS)} (or no "
            "kind for a table of counts like the paper's)"
        )
    return relative_counts(index, cfg, kind)


# --- the paper's scenarios ------------------------------------------------------------------------


def paper_counts(index: DatasetIndex, cfg) -> ScenarioCounts:
    """The paper's counts per class, times ``scenario.scale``."""
    _check_named_classes(index, cfg)
    scale = float(cfg.get("scale", 1.0))
    train, val, augment = {}, {}, {}
    for cls in index.classes:
        train[cls] = scaled(_per_class(cfg.train_per_class, cls), scale)
        val[cls] = scaled(_per_class(cfg.val_per_class, cls), scale)
        augment[cls] = scaled(_per_class(cfg.augment_per_class, cls), scale)
    minority = cfg.get("minority")
    minority = [] if minority is None else [minority] if isinstance(minority, str) else minority
    return ScenarioCounts(train, val, augment, [str(c) for c in minority], cfg.name, scale)


def _check_named_classes(index: DatasetIndex, cfg) -> None:
    """A scenario that names classes (the paper's biased cases name hot_spring) needs them."""
    named = set()
    minority = cfg.get("minority")
    if minority is not None:
        named |= {minority} if isinstance(minority, str) else set(minority)
    for key in ("train_per_class", "val_per_class", "augment_per_class"):
        value = cfg.get(key)
        if value is not None and not isinstance(value, int):
            named |= set(value) - {"default"}
    missing = sorted(str(c) for c in named - set(index.classes))
    if missing:
        raise ValueError(
            f"scenario {cfg.name!r} is one of the paper's, written for Places365's classes: it "
            f"names {missing}, which dataset {index.name!r} does not have (its classes: "
            f"{index.classes}). {RELATIVE_HINT}"
        )


# --- scenarios relative to the data ---------------------------------------------------------------


def relative_counts(index: DatasetIndex, cfg, kind: str) -> ScenarioCounts:
    classes = list(index.classes)
    pool = {c: len(index.paths("train", c)) for c in classes}
    n_val = validation_count(cfg, pool)
    available = {c: pool[c] - n_val for c in classes}
    if kind == "imbalanced":
        train, minority, label = _imbalanced(cfg, classes, available)
    elif kind == "longtail":
        train, minority, label = _longtail(cfg, classes, available)
    else:
        shots = int(cfg.shots)
        if shots < 1:
            raise ValueError(f"scenario.shots={cfg.shots} must be at least 1")
        train, minority, label = dict.fromkeys(classes, shots), [], f"fewshot_k{shots}"
    for cls in classes:
        if train[cls] > available[cls]:
            raise ValueError(
                f"scenario {label!r} asks for {train[cls]} training + {n_val} validation images "
                f"of class {cls!r}, but dataset {index.name!r} has only {pool[cls]} training "
                f"images of it. {_fewer_hint(kind)}"
            )
    augment = {c: stylized_count(cfg, c, train[c], c in minority) for c in classes}
    return ScenarioCounts(train, dict.fromkeys(classes, n_val), augment, minority, label)


def _fewer_hint(kind: str) -> str:
    return {
        "imbalanced": "Lower scenario.majority_per_class (or leave it null: as many as every "
        "majority class has), scenario.ratio or the validation count (scenario.val_per_class, "
        "scenario.val_fraction), or add images.",
        "longtail": "Lower scenario.max_per_class (or leave it null: what the smallest class "
        "has) or the validation count (scenario.val_per_class, scenario.val_fraction), or add "
        "images.",
        "fewshot": "Lower scenario.shots or the validation count (scenario.val_per_class, "
        "scenario.val_fraction), or add images.",
    }[kind]


def validation_count(cfg, pool: dict[str, int]) -> int:
    """The validation images per class: the same number for every class."""
    if cfg.get("val_per_class") is not None:
        n_val = int(cfg.val_per_class)
        if n_val < 1:
            raise ValueError(f"scenario.val_per_class={n_val} must be at least 1 (or null)")
        return n_val
    fraction = float(cfg.val_fraction)
    if not 0 < fraction < 1:
        raise ValueError(f"scenario.val_fraction={fraction} must be between 0 and 1")
    return max(1, half_up(fraction * min(pool.values())))


def stylized_count(cfg, cls: str, n_train: int, is_minority: bool) -> int:
    """The stylized images a class gets: absolute, or a multiple of its real training count."""
    which = str(cfg.get("augment_classes", "all"))
    if which not in ("all", "minority"):
        raise ValueError(f"scenario.augment_classes={which!r} must be all or minority")
    if which == "minority" and not is_minority:
        return 0
    if cfg.get("augment_per_class") is not None:
        return _per_class(cfg.augment_per_class, cls)
    multiple = float(cfg.augment_multiple)
    if multiple < 0:
        raise ValueError(f"scenario.augment_multiple={multiple} must be >= 0")
    return 0 if multiple == 0 else max(1, half_up(multiple * n_train))


def _imbalanced(cfg, classes: list[str], available: dict[str, int]):
    minority = [str(c) for c in (cfg.get("minority") or [])]
    if not minority:
        raise ValueError(
            "scenario=imbalanced needs its minority classes: scenario.minority=[<class>,...] "
            f"(the dataset's classes: {classes})"
        )
    unknown = [c for c in minority if c not in classes]
    if unknown:
        raise ValueError(
            f"scenario.minority={minority} names {unknown}, which are not classes of this "
            f"dataset (its classes: {classes})"
        )
    majority = [c for c in classes if c not in minority]
    if not majority:
        raise ValueError(
            f"scenario.minority={minority} names every class; leave at least one out (the majority)"
        )
    ratio = float(cfg.ratio)
    if not 0 < ratio <= 1:
        raise ValueError(f"scenario.ratio={ratio} must be in (0, 1]: minority = ratio x majority")
    n_major = cfg.get("majority_per_class")
    n_major = min(available[c] for c in majority) if n_major is None else int(n_major)
    n_minor = max(1, half_up(ratio * n_major))
    train = {c: n_minor if c in minority else n_major for c in classes}
    return train, minority, f"imbalanced_r{ratio:g}"


def longtail_order(cfg, classes: list[str]) -> list[str]:
    """Head first: ``scenario.order``, or the classes in an order drawn from ``order_seed``."""
    if cfg.get("order") is not None:
        order = [str(c) for c in cfg.order]
        if sorted(order) != sorted(classes):
            raise ValueError(
                f"scenario.order={order} must list every class exactly once (the dataset's "
                f"classes: {classes}), or be null for a seeded order (scenario.order_seed)"
            )
        return order
    rng = np.random.default_rng([int(cfg.order_seed), zlib.crc32(b"longtail")])
    return [classes[i] for i in rng.permutation(len(classes))]


def _longtail(cfg, classes: list[str], available: dict[str, int]):
    rho = float(cfg.imbalance_factor)
    if rho < 1:
        raise ValueError(f"scenario.imbalance_factor={rho} must be >= 1 (n_max / n_min)")
    order = longtail_order(cfg, classes)
    n_max = cfg.get("max_per_class")
    n_max = min(available.values()) if n_max is None else int(n_max)
    last = max(len(order) - 1, 1)
    # the small epsilon keeps 500 * 0.1 ** 1 = 50.000000000000007 and 49.99999999 both at 50
    train = {c: int(n_max * rho ** (-i / last) + 1e-9) for i, c in enumerate(order)}
    empty = [i for i, c in enumerate(order) if train[c] < 1]
    if empty:
        i = empty[0]
        raise ValueError(
            f"scenario=longtail with imbalance_factor={rho:g} and n_max={n_max} gives class "
            f"{order[i]!r} (place {i} of 0..{last}) no training image: {n_max} x {rho:g}^(-{i}/"
            f"{last}) = {n_max * rho ** (-i / last):.2g}. Lower scenario.imbalance_factor, or "
            "raise scenario.max_per_class (add images)."
        )
    below = float(cfg.minority_below) * n_max
    minority = [c for c in order if train[c] < below]
    return {c: train[c] for c in classes}, minority, f"longtail_rho{rho:g}"
