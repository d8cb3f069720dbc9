"""Scenario sampling: which real images a scenario trains, validates and tests on, and which of its
training images get stylized.

Counts per class come from the scenario config (``conf/scenario/*.yaml``) and are multiplied by
``scenario.scale`` so the paper's protocol (5000 images per class) shrinks to small datasets.

Per seed and class, one fixed permutation of the class's training pool is drawn. Training images
are taken from its front and validation images from its back, so for the same seed:

* training sets are nested across scenarios (scarce's 400 ⊂ biased hot_spring's 1000 ⊂ balanced's
  4000), and so are validation sets (scarce's 100 ⊂ the others' 1000);
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

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            name: {c: len(v) for c, v in getattr(self, name).items()}
            for name in ("train", "val", "test", "augment")
        }


def scaled(count: int, scale: float) -> int:
    """Scale a paper count to the dataset size; a non-zero count never scales to zero."""
    if count <= 0:
        return 0
    return max(1, int(round(count * scale)))


def class_permutation(n: int, seed: int, cls: str) -> np.ndarray:
    """The fixed order in which a class's training pool is used for ``seed``.

    Seeded by the class *name* (crc32, not Python's salted ``hash``) so adding or reordering
    classes does not change another class's draw.
    """
    rng = np.random.default_rng([int(seed), zlib.crc32(cls.encode())])
    return rng.permutation(n)


def _per_class(value, cls: str, key: str, scenario: str) -> int:
    """A count may be one number for every class or a {class: number} mapping."""
    if isinstance(value, int):
        return value
    if value is None:
        return 0
    if cls not in value:
        return int(value.get("default", 0))
    return int(value[cls])


def sample_scenario(index: DatasetIndex, scenario_cfg, seed: int) -> ScenarioSplit:
    name = scenario_cfg.name
    scale = float(scenario_cfg.get("scale", 1.0))
    max_views = VIEWS
    train, val, test, augment = {}, {}, {}, {}
    for cls in index.classes:
        pool = index.paths("train", cls)
        n_train = scaled(
            _per_class(scenario_cfg.train_per_class, cls, "train_per_class", name), scale
        )
        n_val = scaled(_per_class(scenario_cfg.val_per_class, cls, "val_per_class", name), scale)
        n_aug = scaled(
            _per_class(scenario_cfg.augment_per_class, cls, "augment_per_class", name), scale
        )
        if n_train + n_val > len(pool):
            raise ValueError(
                f"scenario {name!r} needs {n_train} training + {n_val} validation images of class "
                f"{cls!r} (counts × scenario.scale={scale}), but dataset {index.name!r} has only "
                f"{len(pool)}. Lower scenario.scale, or prepare more images "
                "(e.g. dataset.train_per_class for the synthetic dataset)."
            )
        if n_train == 0:
            raise ValueError(f"scenario {name!r} gives class {cls!r} no training images")
        if n_aug > n_train * max_views:
            raise ValueError(
                f"scenario {name!r} asks for {n_aug} stylized images of class {cls!r} but has only "
                f"{n_train} training images to stylize ({max_views} views each at most). Lower "
                "scenario.augment_per_class."
            )
        order = class_permutation(len(pool), seed, cls)
        train[cls] = [pool[i] for i in order[:n_train]]
        val[cls] = [pool[i] for i in order[len(pool) - n_val :][::-1]] if n_val else []
        test[cls] = list(index.paths("test", cls))
        augment[cls] = [(train[cls][k % n_train], k // n_train) for k in range(n_aug)]
    return ScenarioSplit(
        name, int(seed), train, val, test, augment, meta={"dataset": index.name, "scale": scale}
    )
