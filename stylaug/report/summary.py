"""Every classify result row, summarised per (setup, scenario, arm, stylizer pool): accuracies
with their intervals over seeds, the paired difference against the baseline arm, the test-image
bootstrap, McNemar per seed, the minority classes and the stylized images' quality.

Rows are grouped by what makes them comparable - dataset, backbone weights, setup hash, scenario
and, for style arms, the stylizer pool - so rows of different pools are never averaged together.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import numpy as np

from stylaug.artifacts.training_lists import LEAK_NOTE
from stylaug.core.stats import mcnemar, mean_ci, paired_bootstrap, paired_difference
from stylaug.models.weights import PRETRAINED_NOTE

SCENARIO_ORDER = ["balanced", "biased_case1", "biased_case2", "scarce"]
# The paper's table (Jain, Rohit, Shyama): single runs, Places365, ImageNet ResNet-18, 400 test images.
PAPER = {
    "biased_case1": (88.25, 90.25),
    "biased_case2": (88.25, 87.50),
    "scarce": (86.00, 86.00),
}
PAPER_SOURCE = "paper (Places365, ImageNet, 1 run)"
# Datasets whose lines the paper's numbers may stand beside: Places365 and its synthetic stand-in
# (the same four classes and scenarios). Never a folder dataset: its classes are not the paper's.
PAPER_DATASETS = ("places365", "synthetic")
EFFICIENTNET_TAG = PRETRAINED_NOTE
EFFICIENTNET_RANDOM_TAG = "EfficientNet-Lite0, not the paper's VGG16/ResNet-18"
# classify writes the same sentence into a class-pool row's notes
CLASS_POOL_WARNING = LEAK_NOTE
POOL_MEANING = {
    "scenario": "leak-free: each stylizer trained only on that scenario's training images",
    "class": "the paper's protocol: each stylizer trained on the class's whole pool, validation "
    f"images included ({CLASS_POOL_WARNING})",
    None: "not recorded (a row from before classify wrote stylizer_pool)",
}


def paper_numbers(line: dict) -> tuple[float, float] | None:
    """The paper's (without, with) for a summary line, if the paper measured that comparison."""
    if line.get("dataset") not in PAPER_DATASETS:
        return None
    return PAPER.get(line["scenario"])


def minorities(row: dict) -> list[str]:
    """Every minority class of a row (rows before the list was written hold one name or None)."""
    value = row.get("minority")
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(c) for c in value]


def scenario_order(scenario: str) -> tuple:
    """The paper's four first, in the paper's order; then by name, numbers by value (fewshot_k2
    before fewshot_k16)."""
    if scenario in SCENARIO_ORDER:
        return (0, SCENARIO_ORDER.index(scenario))
    parts = re.split(r"(\d+(?:\.\d+)?)", scenario)
    return (1, *[(0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts)])


def backbone_tags(backbone: str) -> list[str]:
    """Warnings a backbone description needs wherever results made with it are shown."""
    tags = []
    if "random-init" in backbone:
        tags.append("RANDOM-INIT backbone")
    if backbone.startswith("efficientnet_lite0:"):
        tags.append(EFFICIENTNET_RANDOM_TAG if "random-init" in backbone else EFFICIENTNET_TAG)
    return tags


def label(row: dict) -> str:
    """What the numbers are: dataset and backbone, with smoke/random-init/non-paper warnings spelled out."""
    backbone = row["weights"]["backbone"]
    tags = ["SYNTHETIC data (smoke)"] if row["dataset"] == "synthetic" else []
    tags += backbone_tags(backbone)
    return f"ours: {row['dataset']}, {backbone.split('(')[0].strip()}" + (
        f" [{'; '.join(tags)}]" if tags else ""
    )


def is_style_row(row: dict) -> bool:
    """Stylized images went into this arm (old rows say so only through their stylizer weights)."""
    return row.get("stylizer_pool") is not None or bool(row["weights"].get("stylizers"))


def arm_label(arm: str, pool: str | None, style: bool) -> str:
    """The arm and, for a style arm, which pool its stylizers were trained on."""
    if not style:
        return arm
    if pool == "class":
        return f"{arm}, stylizer pool=class ({CLASS_POOL_WARNING})"
    if pool is None:
        return f"{arm}, stylizer pool not recorded"
    return f"{arm}, stylizer pool={pool}" + (" (leak-free)" if pool == "scenario" else "")


def _pct(x):
    return None if x is None else 100.0 * x


def _same_test(a: dict, b: dict) -> bool:
    return a.get("test_hash") == b.get("test_hash") and a["targets"] == b["targets"]


def _correct(row: dict) -> list[bool]:
    return [p == t for p, t in zip(row["predictions"], row["targets"], strict=True)]


def grouped(rows: list[dict]) -> dict[tuple, dict[tuple, dict[int, dict]]]:
    """(dataset, backbone, setup, scenario) -> (arm, pool) -> seed -> newest row, in scenario
    order: a rerun (same setup, arm, pool, seed) replaces the older row."""
    latest: dict[tuple, dict] = {}
    for r in rows:
        key = (r["dataset"], r["weights"]["backbone"], r.get("setup_hash"), r["scenario"])
        latest[(key, (r["arm"], r.get("stylizer_pool")), r["seed"])] = r
    groups: dict[tuple, dict[tuple, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))
    for (key, variant, seed), r in latest.items():
        groups[key][variant][seed] = r

    return {k: dict(groups[k]) for k in sorted(groups, key=lambda k: scenario_order(k[3]))}


def summarize(
    rows: list[dict],
    confidence: float = 0.95,
    baseline: str = "none",
    bootstrap: int = 2000,
    bootstrap_seed: int = 0,
) -> list[dict]:
    """One dict per (setup, scenario, augmented arm, stylizer pool): accuracies, intervals, tests.

    The pool is part of the key: rows whose stylized images came from different pools are never
    averaged together. ``bootstrap`` resamples (0 = off) of the test images give the paired
    test-image interval.
    """
    out = []
    for key, variants in grouped(rows).items():
        bases = {v: runs for v, runs in variants.items() if v[0] == baseline}
        lines = [(v, _baseline_for(v, bases)) for v in variants if v[0] != baseline]
        for variant, base_variant in lines or [(None, v) for v in bases]:
            base = variants[base_variant] if base_variant else {}
            runs = variants[variant] if variant else {}
            arm, pool = variant or base_variant
            out.append(
                _line(key, arm, pool, base, runs, confidence, int(bootstrap), int(bootstrap_seed))
            )
    return out


def _baseline_for(variant: tuple, bases: dict) -> tuple | None:
    """The baseline rows an arm is compared with: the same pool first, then the pool-less ones."""
    if not bases:
        return None
    for pool in (variant[1], None):
        for b in bases:
            if b[1] == pool:
                return b
    return min(bases, key=lambda b: str(b[1]))


def _line(key, arm, pool, base, runs, confidence, bootstrap, bootstrap_seed) -> dict:
    seeds = sorted(set(base) & set(runs))
    any_row = next(iter((runs or base).values()))
    minority = minorities(any_row)
    acc_b = [base[s]["metrics"]["accuracy"] * 100 for s in sorted(base)]
    acc_a = [runs[s]["metrics"]["accuracy"] * 100 for s in sorted(runs)]
    diff = paired_difference(
        [base[s]["metrics"]["accuracy"] * 100 for s in seeds],
        [runs[s]["metrics"]["accuracy"] * 100 for s in seeds],
        confidence,
    )
    paired = [s for s in seeds if _same_test(base[s], runs[s])]  # same test images: paired tests
    tests = [{"seed": s, **mcnemar(_correct(base[s]), _correct(runs[s]))} for s in paired]
    style = any(is_style_row(r) for r in runs.values())
    return {
        "scenario": key[3],
        "source": label(any_row),
        "arm": arm,
        "pool": pool,
        "style": style,
        "arm_label": arm_label(arm, pool, style),
        "seeds": len(seeds) if runs else len(base),
        "without": mean_ci(acc_b, confidence),
        "with": mean_ci(acc_a, confidence),
        "diff": diff,
        "bootstrap": _bootstrap(base, runs, paired, bootstrap, confidence, bootstrap_seed),
        "mcnemar": tests,
        "minority": minority,
        "minority_acc_without": _minority_acc(base, minority, confidence),
        "minority_acc_with": _minority_acc(runs, minority, confidence) if runs else None,
        "minority_per_class": {
            c: (_minority_acc(base, [c], confidence), _minority_acc(runs, [c], confidence))
            for c in minority
        },
        "dataset": key[0],
        "backbone": key[1],
        "stylizers": _stylizer_weights(runs),
        "style_quality": _style_quality(runs) if style else None,
    }


def _bootstrap(base, runs, paired, resamples, confidence, seed) -> dict | None:
    """The paired test-image bootstrap (in points) over the seeds that share one test list.

    Resampled indices are shared across seeds, so those seeds must list the same images: the
    largest such group takes part (every seed, since the test split does not depend on the seed).
    """
    if resamples <= 0 or not paired:
        return None
    lists = Counter((base[s].get("test_hash"), tuple(base[s]["targets"])) for s in paired)
    common = lists.most_common(1)[0][0]
    if not common[1]:
        return None  # no test images
    used = [s for s in paired if (base[s].get("test_hash"), tuple(base[s]["targets"])) == common]
    r = paired_bootstrap(
        np.array([_correct(base[s]) for s in used]),
        np.array([_correct(runs[s]) for s in used]),
        resamples,
        confidence,
        seed,
    )
    return {**r, "estimate": 100 * r["estimate"], "lo": 100 * r["lo"], "hi": 100 * r["hi"]}


def _minority_acc(group: dict, minority: list[str], confidence: float) -> float | None:
    """Accuracy on the minority classes (the mean of their per-class accuracies), mean over seeds."""
    if not minority or not group:
        return None
    per_seed = []
    for s in sorted(group):
        accs = [group[s]["metrics"]["per_class"].get(c) for c in minority]
        if all(a is not None for a in accs):
            per_seed.append(_pct(float(np.mean(accs))))
    return mean_ci(per_seed, confidence)["mean"] if per_seed else None


def _stylizer_weights(runs: dict) -> str:
    seen = set()
    for r in runs.values():
        for info in (r["weights"].get("stylizers") or {}).values():
            for k, v in info.items():
                if "weight" in k or "loss_net" in k:
                    seen.add(str(v))
    return ", ".join(sorted(seen)) if seen else ("n/a" if not runs else "unknown")


def _style_quality(runs: dict) -> dict:
    """Per class, the mean over seeds of content score, Gram ratio and stylized-image count."""
    per_class: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for s in sorted(runs):
        for cls, q in (runs[s].get("style_quality") or {}).items():
            for k in ("content_score", "gram_ratio", "images"):
                if q.get(k) is not None:
                    per_class[cls][k].append(float(q[k]))
            per_class[cls]["seeds"].append(s)
    return {
        cls: {
            k: (float(np.mean(v[k])) if v[k] else None)
            for k in ("content_score", "gram_ratio", "images")
        }
        | {"seeds": len(v["seeds"])}
        for cls, v in per_class.items()
    }


# --- formatting -----------------------------------------------------------------------------------
