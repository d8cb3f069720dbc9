"""Corruption robustness of every arm: the test split under ImageNet-C's corruptions.

``classifier.robustness`` (``corruptions``: names, families or ``all``; ``severities``; ``seed``;
``size``) turns it on. Every test image is corrupted once per (image, corruption, severity, seed)
(``stylaug.classify.corruptions``) and pushed through the frozen backbone once: its features go into the
feature cache, one folder per (weights, transform, corruption, severity, seed, size, library
version), keyed by the test file's content like every other image. The test split is the same for
every scenario and seed, so the first classify job of a dataset pays for the corrupted images and
every later one - other scenarios, seeds, arms - reads them from the cache; evaluating a trained
head on all of them is a matrix product.

Each arm's result row gets ``robustness``: accuracy per corruption and severity (and per class),
the means per corruption, family and severity, the mean corruption accuracy, the per-class means
over all corruptions, and the corruption error relative to the ``none`` arm of the same (scenario,
seed): per corruption, the arm's summed error over the severities divided by ``none``'s (ImageNet-C's
CE with the ``none`` arm in AlexNet's place), and their mean, the relative mCE (``none`` = 1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from PIL import Image

from stylaug.artifacts.results import CORRUPTION_FAMILIES
from stylaug.classify.corruptions import (
    CorruptedView,
    check_severities,
    corrupt,
    family_of,
    image_seed,
    library_version,
    resolve,
)
from stylaug.classify.features import FeatureCache, ScenarioFeatures, digests, extract, feature_key
from stylaug.core.identity import digest
from stylaug.core.io import file_sha256
from stylaug.data.dataset import ImageFiles
from stylaug.data.images import read_image
from stylaug.data.visual import write_grid

BASELINE_ARM = "none"


@dataclass(frozen=True)
class RobustnessSpec:
    corruptions: tuple[str, ...]
    severities: tuple[int, ...]
    seed: int
    size: int | None  # corrupt at size x size (ImageNet-C's 224); None: at the image's own size

    @property
    def conditions(self) -> list[tuple[str, int]]:
        return [(c, s) for c in self.corruptions for s in self.severities]

    def describe(self) -> dict:
        return {
            "library": library_version(),
            "corruptions": list(self.corruptions),
            "severities": list(self.severities),
            "seed": self.seed,
            "size": self.size,
        }

    @property
    def key(self) -> str:
        """What a baseline row must share with an arm's row for their errors to be compared."""
        return digest(self.describe())


def robustness_spec(classifier_cfg: DictConfig) -> RobustnessSpec | None:
    """``classifier.robustness`` checked, or None when it is off (no corruptions listed)."""
    r = classifier_cfg.get("robustness")
    if not r or not r.get("corruptions"):
        return None
    size = r.get("size")
    if size is not None and int(size) < 32:
        raise ValueError(f"classifier.robustness.size={size} must be >= 32 (or null)")
    return RobustnessSpec(
        tuple(resolve(list(r.corruptions))),
        tuple(check_severities(r.get("severities") or [1, 2, 3, 4, 5])),
        int(r.get("seed", 0)),
        None if size is None else int(size),
    )


def transform_desc(spec: RobustnessSpec, name: str, severity: int, eval_desc: str) -> str:
    size = "own size" if spec.size is None else f"{spec.size}px"
    return (
        f"imagenet-c({library_version()}, {name}, severity {severity}, seed {spec.seed}, "
        f"{size})|{eval_desc}"
    )


class CorruptedTestSet:
    """The test split's features under every (corruption, severity) of ``spec``: loaded from the
    feature cache, the misses corrupted and pushed through the backbone in one pass."""

    def __init__(self, features: ScenarioFeatures, items: list[tuple[Path, int]], spec, classes):
        self.spec, self.classes = spec, list(classes)
        self.stats = {"hits": 0, "computed": 0, "bad": 0}
        start = time.perf_counter()
        self.sets = self._load(features, items)
        self.seconds = time.perf_counter() - start

    def _load(self, features: ScenarioFeatures, items) -> dict:
        cfg, spec, dim = features.cfg, self.spec, features.backbone.dim
        paths, labels = [p for p, _ in items], np.array([y for _, y in items], dtype=np.int64)
        digs = digests(paths, cfg.data.on_bad_image)
        readable = np.flatnonzero([d is not None for d in digs])
        feats, ok, caches, keys, misses = {}, {}, {}, {}, []
        for cond in spec.conditions:
            desc = transform_desc(spec, *cond, features.transform_desc)
            caches[cond] = (
                FeatureCache(features.cache_dir, features.weights, desc, dim)
                if features.cache_dir is not None
                else None
            )
            keys[cond] = [feature_key(d, features.weights, desc) if d else b"" for d in digs]
            feats[cond] = np.zeros((len(paths), dim), np.float32)
            ok[cond] = np.array([d is not None for d in digs])
            hit = np.zeros(len(readable), bool)
            if caches[cond] is not None:
                got, hit = caches[cond].get([keys[cond][i] for i in readable])
                feats[cond][readable[hit]] = got[hit]
            misses += [(cond, int(i)) for i in readable[~hit]]
            self.stats["hits"] += int(hit.sum())
        if misses:
            c = cfg.classifier
            images = ImageFiles(
                [paths[i] for _, i in misses],
                CorruptedView(spec.size, features.transform),
                keys=[(n, s, image_seed(digs[i], n, s, spec.seed)) for (n, s), i in misses],
                on_bad_image=cfg.data.on_bad_image,
            )
            new, new_ok = extract(
                features.backbone, images, features.trainer(), int(c.batch_size),
                int(c.num_workers),
            )  # fmt: skip
            for k, (cond, i) in enumerate(misses):
                feats[cond][i], ok[cond][i] = new[k], new_ok[k]
            for cond in spec.conditions:
                done = [i for cc, i in misses if cc == cond and ok[cond][i]]
                if caches[cond] is not None and done:
                    caches[cond].put([keys[cond][i] for i in done], feats[cond][done])
            self.stats["computed"] += len(misses)
        sets = {}
        for cond in spec.conditions:
            self.stats["bad"] += int((~ok[cond]).sum())
            keep = ok[cond]
            sets[cond] = (torch.from_numpy(feats[cond][keep]), torch.from_numpy(labels[keep]))
        return sets

    def evaluate(self, head) -> dict:
        """A trained head (its best epoch loaded) on every corrupted set: the row's fields."""
        weight, bias = head.fc.weight.detach().cpu(), head.fc.bias.detach().cpu()
        acc: dict[str, dict[str, float]] = {}
        per_class: dict[str, dict[str, dict]] = {}
        with torch.no_grad():
            for (name, severity), (x, y) in self.sets.items():
                pred = (x @ weight.T + bias).argmax(1)
                correct = (pred == y).numpy()
                acc.setdefault(name, {})[str(severity)] = float(correct.mean())
                per_class.setdefault(name, {})[str(severity)] = {
                    cls: (float(correct[(y == k).numpy()].mean()) if (y == k).any() else None)
                    for k, cls in enumerate(self.classes)
                }
        return {
            **self.spec.describe(),
            "spec_key": self.spec.key,
            "images": int(len(next(iter(self.sets.values()))[1])) if self.sets else 0,
            **summarize_accuracy(acc, per_class, self.classes),
            "per_class": per_class,
            "ce": None,
            "mce": None,
            "relative_ce": None,
            "relative_mce": None,
            "baseline": None,
            "cache": dict(self.stats),
            "feature_s": round(self.seconds, 3),
        }


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def summarize_accuracy(acc: dict, per_class: dict, classes: list[str]) -> dict:
    """The means the report needs, from accuracy[corruption][severity] (and per class)."""
    corruption = {c: _mean(by_sev.values()) for c, by_sev in acc.items()}
    families = {}
    for c, value in corruption.items():
        families.setdefault(family_of(c), []).append(value)
    severities = sorted({s for by_sev in acc.values() for s in by_sev}, key=int)
    return {
        "accuracy": acc,
        "corruption_accuracy": corruption,
        "family_accuracy": {f: _mean(families[f]) for f in CORRUPTION_FAMILIES if f in families},
        "severity_accuracy": {
            s: _mean(acc[c].get(s) for c in acc if s in acc[c]) for s in severities
        },
        "mean_corruption_accuracy": _mean(v for by_sev in acc.values() for v in by_sev.values()),
        "per_class_mean": {
            cls: _mean(pc.get(cls) for by_sev in per_class.values() for pc in by_sev.values())
            for cls in classes
        },
    }


def corruption_errors(
    rob: dict, clean_acc: float, base: dict, base_clean_acc: float
) -> dict[str, dict[str, float | None]]:
    """Per corruption: the CE (summed error over the severities / the baseline's) and the relative
    CE (the same of the errors above each arm's clean error). None where the baseline's is 0."""
    ce, relative = {}, {}
    for name, by_sev in rob["accuracy"].items():
        sev = [s for s in by_sev if s in base["accuracy"].get(name, {})]
        if not sev:
            continue
        base_err = sum(1 - base["accuracy"][name][s] for s in sev)
        arm_err = sum(1 - by_sev[s] for s in sev)
        ce[name] = arm_err / base_err if base_err > 0 else None
        base_rise = base_err - len(sev) * (1 - base_clean_acc)
        arm_rise = arm_err - len(sev) * (1 - clean_acc)
        relative[name] = arm_rise / base_rise if base_rise > 0 else None
    return {"ce": ce, "relative_ce": relative}


def add_relative_errors(rob: dict, row: dict, base_row: dict | None) -> dict:
    """Fill ``ce``/``mce`` and ``relative_ce``/``relative_mce`` (Hendrycks & Dietterich) and
    ``baseline`` from the ``none`` arm's row."""
    if base_row is None or not base_row.get("robustness"):
        return rob
    errors = corruption_errors(
        rob, row["metrics"]["accuracy"], base_row["robustness"], base_row["metrics"]["accuracy"]
    )
    rob.update(
        ce=errors["ce"],
        mce=_mean(errors["ce"].values()),
        relative_ce=errors["relative_ce"],
        relative_mce=_mean(errors["relative_ce"].values()),
        baseline={"arm": base_row["arm"], "config_hash": base_row["config_hash"]},
    )
    return rob


def find_baseline(rows: list[dict], setup_hash: str, scenario: str, seed: int, spec_key: str):
    """The newest ``none`` row of the same setup, scenario and seed made with the same spec."""
    for r in reversed(rows):
        rob = r.get("robustness") or {}
        if (r.get("arm"), r.get("setup_hash"), r.get("scenario"), r.get("seed")) == (
            BASELINE_ARM,
            setup_hash,
            scenario,
            seed,
        ) and rob.get("spec_key") == spec_key:
            return r
    return None


def write_samples(path: Path, image: Path, spec: RobustnessSpec, dataset: str) -> Path | None:
    """One test image under every corruption (a row each): clean, then each severity."""
    img = read_image(image, "skip")
    if img is None:
        return None
    size = spec.size or min(img.size)
    clean = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    digest_ = file_sha256(image)
    rows = [
        (
            name,
            [clean]
            + [
                corrupt(img, name, s, image_seed(digest_, name, s, spec.seed), spec.size)
                for s in spec.severities
            ],
        )
        for name in spec.corruptions
    ]
    title = f"clean | severity {', '.join(map(str, spec.severities))}"
    return write_grid(rows, path, title, dataset, label_width=130)
