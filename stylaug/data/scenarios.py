"""Scenario sampling: which real images a scenario trains, validates and tests on, and which of its
training images get stylized.

Counts per class come from the scenario config (``conf/scenario/*.yaml``, read by
``stylaug.data.scenario_counts``): the paper's four scenarios multiply theirs by
``scenario.scale`` so the paper's protocol (5000 images per class) shrinks to small datasets;
``imbalanced``, ``longtail`` and ``fewshot`` are defined relative to the data.

Per seed and class, one fixed permutation of the class's training pool is drawn. Training images
are taken from its front and validation images from its back, so for the same seed:

* training sets are nested across scenarios (scarce's 400 ⊂ biased hot_spring's 1000 ⊂ balanced's
  4000; fewshot's k ⊂ 2k), and so are validation sets (scarce's 100 ⊂ the others' 1000);
* stylization sources are the front of the training list, so one augmented set per seed serves
  every scenario, and a source is always inside that scenario's own training set;
* test images are the dataset's whole test split and never enter any other list.

When a scenario asks for more stylized images than it has training images (the paper's scarce
case: 500 stylized from 400 real), sources are reused with a view number: view 0 is the image
itself, view 1 its horizontal mirror, and so on; the augment stage applies the view.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps

from stylaug.data.index import DatasetIndex
from stylaug.data.scenario_counts import scaled, scenario_counts

__all__ = ["ScenarioSplit", "apply_view", "class_permutation", "sample_scenario", "scaled"]

VIEWS = 2  # view 0 of a stylization source is the image itself, view 1 its horizontal mirror


def apply_view(img: Image.Image, view: int) -> Image.Image:
    if int(view) == 0:
        return img
    if int(view) == 1:
        return ImageOps.mirror(img)
    raise ValueError(f"view {view} of a stylization source is not defined (0: as is, 1: mirrored)")


@dataclass
class ScenarioSplit:
    scenario: str
    seed: int
    train: dict[str, list[str]]
    val: dict[str, list[str]]
    test: dict[str, list[str]]
    augment: dict[str, list[tuple[str, int]]]  # class -> [(training image, view)]
    meta: dict = field(default_factory=dict)
    minority: list[str] = field(default_factory=list)  # every minority class ([] if balanced)
    label: str = ""  # how rows and reports name it: the name, or with its parameter (fewshot_k4)

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            name: {c: len(v) for c, v in getattr(self, name).items()}
            for name in ("train", "val", "test", "augment")
        }


def class_permutation(n: int, seed: int, cls: str) -> np.ndarray:
    """The fixed order in which a class's training pool is used for ``seed``.

    Seeded by the class *name* (crc32, not Python's salted ``hash``) so adding or reordering
    classes does not change another class's draw.
    """
    rng = np.random.default_rng([int(seed), zlib.crc32(cls.encode())])
    return rng.permutation(n)


def sample_scenario(index: DatasetIndex, scenario_cfg, seed: int) -> ScenarioSplit:
    """The scenario's lists for ``seed``: counts from ``scenario_counts``, images drawn here."""
    name = scenario_cfg.name
    counts = scenario_counts(index, scenario_cfg)
    max_views = VIEWS
    train, val, test, augment = {}, {}, {}, {}
    for cls in index.classes:
        pool = index.paths("train", cls)
        n_train, n_val, n_aug = counts.train[cls], counts.val[cls], counts.augment[cls]
        if n_train + n_val > len(pool):
            scale = f" (counts × scenario.scale={counts.scale})" if counts.scale is not None else ""
            raise ValueError(
                f"scenario {name!r} needs {n_train} training + {n_val} validation images of class "
                f"{cls!r}{scale}, but dataset {index.name!r} has only {len(pool)}. Lower "
                "scenario.scale, or prepare more images "
                "(e.g. dataset.train_per_class for the synthetic dataset), or use a scenario "
                "defined relative to the data (scenario=imbalanced, longtail or fewshot)."
            )
        if n_train == 0:
            raise ValueError(f"scenario {name!r} gives class {cls!r} no training images")
        if n_aug > n_train * max_views:
            raise ValueError(
                f"scenario {counts.label!r} asks for {n_aug} stylized images of class {cls!r} but "
                f"has only {n_train} training images to stylize ({max_views} views each at most). "
                "Lower scenario.augment_per_class (or scenario.augment_multiple)."
            )
        order = class_permutation(len(pool), seed, cls)
        train[cls] = [pool[i] for i in order[:n_train]]
        val[cls] = [pool[i] for i in order[len(pool) - n_val :][::-1]] if n_val else []
        test[cls] = list(index.paths("test", cls))
        augment[cls] = [(train[cls][k % n_train], k // n_train) for k in range(n_aug)]
    meta = {"dataset": index.name, "scale": counts.scale}
    return ScenarioSplit(
        name, int(seed), train, val, test, augment, meta, counts.minority, counts.label
    )
