"""``python -m stylaug.prepare_data``: write the synthetic dataset, or index a Places365 copy or any
image folder (``dataset=folder dataset.source=PATH``).

Output: ``<paths.data_dir>/<dataset>/index.json`` (the file list per split and class that every
later stage reads) and ``samples.png`` (a grid of examples per class); for ``dataset=synthetic``
also the images themselves under ``train/<class>/`` and ``test/<class>/``.

Every listed image is decoded once before the index is written (``stylaug.data.check``): files that
cannot be read are left out of ``index.json`` and listed in its ``meta.bad_images``, so no later
stage ever draws one. The verdicts are cached in ``image_check.json`` beside the index.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from stylaug.core.settings_check import check_settings
from stylaug.data.check import CACHE_NAME, bad_image_summary, check_images
from stylaug.data.folder import index_folder
from stylaug.data.images import check_on_bad_image, read_image
from stylaug.data.index import DatasetIndex, index_path
from stylaug.data.places365 import index_places365
from stylaug.data.synthetic import write_synthetic
from stylaug.data.visual import SYNTHETIC_NOTE, log_notes, write_grid

log = logging.getLogger(__name__)


def write_samples(
    index: DatasetIndex, path: Path, per_class: int = 8, on_bad_image: str = "skip"
) -> Path:
    rows = []
    for cls in index.classes:
        images = [
            read_image(index.abspath(r), on_bad_image)
            for r in index.paths("train", cls)[:per_class]
        ]
        rows.append((cls, [im for im in images if im is not None]))
    return write_grid(rows, path, f"{index.name} training samples", index.name)


def prepare_data(cfg: DictConfig) -> DatasetIndex:
    """Write (synthetic) or index (places365, folder) the configured dataset; return its index."""
    check_settings(cfg)  # every numeric setting in range, before any work
    check_on_bad_image(cfg.data.on_bad_image)
    ds = cfg.dataset
    out = Path(ds.dir)
    if ds.get("kind") == "folder":
        index = index_folder(
            ds.source, ds.classes, ds.test_fraction, ds.split_seed, _folder_name(ds.name)
        )
    elif ds.name == "synthetic":
        index = write_synthetic(
            out, ds.classes, ds.image_size, ds.train_per_class, ds.test_per_class, ds.seed
        )
    elif ds.name == "places365":
        index = index_places365(ds.source, OmegaConf.to_container(ds.categories))
        if list(index.classes) != list(ds.classes):
            raise ValueError("dataset.classes and dataset.categories must name the same classes")
    else:
        raise ValueError(
            f"unknown dataset {ds.name!r}: use dataset=synthetic, dataset=places365 or "
            "dataset=folder dataset.source=PATH"
        )
    index = check_images(index, out / CACHE_NAME, cfg.data.on_bad_image)
    if index.meta.get("ignored"):
        log.info(
            "%s: ignored %s (examples: %s)", index.name,
            ", ".join(f"{n} {why}" for why, n in index.meta["ignored"].items()),
            "; ".join(p for ex in index.meta["ignored_examples"].values() for p in ex[:2]),
        )  # fmt: skip
    index.save(index_path(ds))  # only now, and atomically: a failed check leaves no new index
    samples = write_samples(index, out / "samples.png", on_bad_image=cfg.data.on_bad_image)
    counts = index.counts()
    for split, per_class in counts.items():
        log.info("%s %s: %s", ds.name, split, ", ".join(f"{c}={n}" for c, n in per_class.items()))
    log.info("index: %s; samples: %s", index_path(ds), samples)
    summary = bad_image_summary(index, index_path(ds))
    if summary:
        log.warning(summary)
    if ds.name == "synthetic":
        log_notes(log, [SYNTHETIC_NOTE])
    return index


def _folder_name(name: str) -> str:
    """A folder dataset may not pass for one of the built-in datasets in rows and reports."""
    if name in ("synthetic", "places365"):
        raise ValueError(
            f"dataset.name={name} is a built-in dataset's name; give your folder dataset its own "
            "(or leave dataset.name unset: folder:<source folder name>)"
        )
    return name
