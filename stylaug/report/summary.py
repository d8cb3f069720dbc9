"""Every classify result row, summarised per setup and scenario: one line per arm, each compared
with the references a reviewer asks for, all over the same seeds.

**Grouping.** Rows are grouped by what makes them comparable - dataset, backbone, setup hash and
scenario - and, inside, by arm, stylizer pool and the arm's *line setup* (the style set's
seed-independent settings, ``aug_views``, the robustness spec): rows that differ in any of them are
never averaged together (a split is logged and noted in the report). A rerun of the same line and
seed replaces the older row.

**References.** Every arm is compared with ``none``; a style arm with ``unstylized`` (its exact
sources added unstylized: the style effect, the headline), a combined arm ``T+style`` with
``T+unstylized``; every arm with ``reweighted`` where that control exists (a minority class); a
quality-filtered arm with its random-drop twin. A line's seeds are the seeds its arm and every one
of its references ran, so every mean, difference and minority-class figure in the line uses the
same seeds.

**Intervals.** Each difference carries the headline interval and p-value of
``stylaug.core.stats.paired_effect`` (it covers the seeds and the test images) and, beside it, the
seed t-interval. p-values are Holm-adjusted over the family of arms compared with the same
reference in the same setup and scenario.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict

import numpy as np

from stylaug.artifacts.training_lists import LEAK_NOTE
from stylaug.core.identity import digest
from stylaug.core.stats import class_paired_effect, holm, mean_ci, paired_difference, paired_effect
from stylaug.models.weights import PRETRAINED_NOTE

log = logging.getLogger(__name__)

SCENARIO_ORDER = ["balanced", "biased_case1", "biased_case2", "scarce"]
# The paper's table (Jain, Rohit, Shyama): single runs, Places365, ImageNet ResNet-18, 400 test images.
PAPER = {
    "biased_case1": (88.25, 90.25),
    "biased_case2": (88.25, 87.50),
    "scarce": (86.00, 86.00),
}
PAPER_SOURCE = "paper (Places365, ImageNet ResNet-18, 1 run, 400 test images)"
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
UNSTYLIZED, REWEIGHTED, RANDOM_DROP = "unstylized", "reweighted", "random_drop"
# manifest keys of a style set that do not depend on the seed: a line's seeds must agree on them
STYLE_SETUP_KEYS = ("settings", "pool", "loss_net_weights", "preserve_color", "family", "alpha",
                    "style_seed", "style_pool")  # fmt: skip


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


def row_mode(row: dict) -> str:
    """How the classifier was trained (rows from before classifier.mode: the linear probe)."""
    return row.get("mode") or "linear_probe"


def label(row: dict) -> str:
    """What the numbers are: dataset, backbone and (fine-tuned) mode, with smoke/random-init/
    non-paper warnings spelled out."""
    backbone = row["weights"]["backbone"]
    tags = ["FINE-TUNED backbone"] if row_mode(row) == "finetune" else []
    tags += ["SYNTHETIC data (smoke)"] if row["dataset"] == "synthetic" else []
    tags += backbone_tags(backbone)
    return f"ours: {row['dataset']}, {backbone.split('(')[0].strip()}" + (
        f" [{'; '.join(tags)}]" if tags else ""
    )


def is_style_row(row: dict) -> bool:
    """Stylized images went into this arm (old rows say so only through their stylizer weights)."""
    return row.get("stylizer_pool") is not None or bool(row["weights"].get("stylizers"))


def arm_name(row: dict) -> str:
    """The arm as a reader needs it: a traditional arm with cached views says how many."""
    views = (row.get("counts") or {}).get("aug_views")
    online = row.get("online")
    if online:  # an online arm: its probability and strength
        return f"{row['arm']} (p={online['p']:g}, α={online['alpha']})"
    return f"{row['arm']} ({views} cached views)" if views else row["arm"]


def arm_label(arm: str, pool: str | None, style: bool) -> str:
    """The arm and, for a style arm, which pool its stylizers were trained on."""
    if not style:
        return arm
    if pool == "class":
        return f"{arm}, stylizer pool=class ({CLASS_POOL_WARNING})"
    if pool is None:
        return f"{arm}, stylizer pool not recorded"
    return f"{arm}, stylizer pool={pool}" + (" (leak-free)" if pool == "scenario" else "")


def line_setup(row: dict) -> str:
    """What a line's seeds must share beyond the setup hash: the style set's seed-independent
    settings, the cached views of a traditional arm, and the corrupted test sets."""
    style = sorted(
        {
            str(sorted((k, str(v)) for k, v in info.items() if k in STYLE_SETUP_KEYS))
            for info in (row["weights"].get("stylizers") or {}).values()
        }
    )
    views = (row.get("counts") or {}).get("aug_views")
    spec = (row.get("robustness") or {}).get("spec_key")
    return digest([style, views, spec], 8)


def grouped(rows: list[dict]) -> dict[tuple, dict[tuple, dict[int, dict]]]:
    """(dataset, backbone, setup, scenario, mode) -> (arm, pool) -> seed -> newest row, in scenario
    order: a linear probe and a fine-tune are never one group (nor one table: ``label``).

    A (arm, pool) whose seeds disagree on their line setup is split: the setup most seeds share
    keeps the arm's name, the others are named ``arm [setup <id>]``, and a warning says so."""
    latest: dict[tuple, dict] = {}
    for r in rows:
        key = (
            r["dataset"],
            r["weights"]["backbone"],
            r.get("setup_hash"),
            r["scenario"],
            row_mode(r),
        )
        latest[(key, (r["arm"], r.get("stylizer_pool"), line_setup(r)), r["seed"])] = r
    by_setup: dict[tuple, dict[tuple, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))
    for (key, variant, seed), r in latest.items():
        by_setup[key][variant][seed] = r
    groups: dict[tuple, dict[tuple, dict[int, dict]]] = {}
    for key, variants in by_setup.items():
        out: dict[tuple, dict[int, dict]] = {}
        arms = defaultdict(list)
        for (arm, pool, setup), runs in variants.items():
            arms[(arm, pool)].append((setup, runs))
        for (arm, pool), setups in arms.items():
            setups.sort(key=lambda sr: -len(sr[1]))
            out[(arm, pool)] = setups[0][1]
            for setup, runs in setups[1:]:
                log.warning(
                    "%s/%s: %d seed(s) of arm %s were made with other settings (line setup %s) "
                    "than its other seeds; they are reported as a separate line, never averaged",
                    key[0], key[3], len(runs), arm, setup,
                )  # fmt: skip
                out[(f"{arm} [setup {setup}]", pool)] = runs
        groups[key] = out

    return {k: groups[k] for k in sorted(groups, key=lambda k: scenario_order(k[3]))}


def _correct(row: dict) -> np.ndarray:
    return np.asarray(row["predictions"]) == np.asarray(row["targets"])


def _same_test(a: dict, b: dict) -> bool:
    return a.get("test_hash") == b.get("test_hash") and a["targets"] == b["targets"]


def references(arm: str, runs: dict, variants: dict, baseline: str) -> dict[str, tuple]:
    """The arms this arm is compared with: label -> (arm, pool) variant key."""
    names = {arm for arm, _ in variants}
    any_row = next(iter(runs.values()))
    refs = {}
    if arm != baseline and (baseline, None) in variants:
        refs[baseline] = (baseline, None)
    control = any_row.get("control")
    if is_style_row(any_row) and control is None:
        trad = any_row.get("traditional")
        plain = f"{trad}+{UNSTYLIZED}" if trad else UNSTYLIZED
        if plain in names:
            refs[UNSTYLIZED] = (plain, None)
        twin = f"{arm}_{RANDOM_DROP}"
        if (any_row.get("quality_filter") or {}).get("rule") and any(n == twin for n in names):
            refs[RANDOM_DROP] = next(v for v in variants if v[0] == twin)
    if arm not in (baseline, REWEIGHTED) and (REWEIGHTED, None) in variants:
        refs[REWEIGHTED] = (REWEIGHTED, None)
    return refs


def summarize(rows: list[dict], confidence: float = 0.95, baseline: str = "none") -> list[dict]:
    """One line per (setup, scenario, arm, stylizer pool), references compared (module docstring)."""
    out = []
    for key, variants in grouped(rows).items():
        lines = [
            _line(key, variant, runs, variants, baseline, confidence)
            for variant, runs in sorted(variants.items(), key=lambda kv: _arm_order(kv))
        ]
        for ref in {r for line in lines for r in line["vs"]}:  # Holm over each reference's family
            family = [line["vs"][ref] for line in lines if line["vs"].get(ref)]
            for effect, p in zip(family, holm([e["p"] for e in family]), strict=True):
                effect["p_holm"] = p
        out += lines
    return out


def _arm_order(item) -> tuple:
    (arm, pool), runs = item
    row = next(iter(runs.values()))
    control = row.get("control")
    rank = {None: 3, REWEIGHTED: 1, UNSTYLIZED: 2, RANDOM_DROP: 4}.get(control, 3)
    if control is None and not is_style_row(row):
        rank = 1.5  # traditional arms after the controls of the prior, before the style arms
    if arm == "none":
        rank = 0
    return (rank, arm.split("+")[0] if "+" in arm else "", arm, str(pool))


def _line(key, variant, runs, variants, baseline, confidence) -> dict:
    arm, pool = variant
    refs = references(arm, runs, variants, baseline)
    seeds = set(runs)
    for ref_variant in refs.values():
        shared = seeds & set(variants[ref_variant])
        if shared:
            seeds = shared
    seeds = sorted(seeds)
    any_row = runs[seeds[0]]
    minority = minorities(any_row)
    vs, seed_ci, minority_vs = {}, {}, defaultdict(dict)
    for name, ref_variant in refs.items():
        base = variants[ref_variant]
        paired = [s for s in seeds if s in base and _same_test(base[s], runs[s])]
        if len(paired) != len(seeds) or not seeds:
            continue  # a reference that misses a seed or another test set is not compared
        a = np.stack([_correct(base[s]) for s in seeds])
        b = np.stack([_correct(runs[s]) for s in seeds])
        if len(seeds) >= 2:
            vs[name] = _points(paired_effect(a, b, confidence))
        seed_ci[name] = paired_difference(
            [100 * base[s]["metrics"]["accuracy"] for s in seeds],
            [100 * runs[s]["metrics"]["accuracy"] for s in seeds],
            confidence,
        )
        classes = any_row.get("classes") or []
        for cls in minority:
            if cls in classes and len(seeds) >= 2:
                targets = np.asarray(runs[seeds[0]]["targets"])
                if (targets == classes.index(cls)).sum() >= 2:
                    effect = class_paired_effect(a, b, targets, classes.index(cls), confidence)
                    minority_vs[cls][name] = _points(effect)
    style = any(is_style_row(r) for r in runs.values())
    return {
        "scenario": key[3],
        "source": label(any_row),
        "dataset": key[0],
        "backbone": key[1],
        "setup": key[2],
        "mode": key[4],
        "arm": arm,
        "arm_name": arm_name(any_row) if arm == any_row["arm"] else arm,
        "pool": pool,
        "style": style,
        "control": any_row.get("control"),
        "arm_label": arm_label(arm_name(any_row) if arm == any_row["arm"] else arm, pool, style),
        "seeds": len(seeds),
        "seed_list": seeds,
        "acc": mean_ci([100 * runs[s]["metrics"]["accuracy"] for s in seeds], confidence),
        "val_acc": mean_ci([_pct(runs[s].get("val_accuracy")) for s in seeds], confidence),
        "vs": vs,
        "seed_ci": seed_ci,
        "minority": [
            {
                "class": cls,
                "acc": mean_ci(
                    [_pct(runs[s]["metrics"]["per_class"].get(cls)) for s in seeds], confidence
                ),
                "vs": dict(minority_vs.get(cls, {})),
            }
            for cls in minority
        ],
        "stylizers": _stylizer_weights(runs) if style else None,
        "style_quality": _style_quality({s: runs[s] for s in seeds}) if style else None,
    }


def _points(effect: dict) -> dict:
    """An effect of fractions in accuracy points (the tables' unit)."""
    return {**effect, **{k: 100 * effect[k] for k in ("estimate", "lo", "hi")}}


def _pct(x):
    return None if x is None else 100.0 * x


def headline(line: dict) -> tuple[str, dict | None]:
    """The comparison a line is about: a style arm's style effect (vs ``unstylized``), a filtered
    arm's filter effect (vs its random twin), else the difference from ``none``."""
    for ref in (UNSTYLIZED, "none"):
        if line["vs"].get(ref):
            return ref, line["vs"][ref]
    return "", None


def _stylizer_weights(runs: dict) -> str:
    seen = set()
    for r in runs.values():
        for info in (r["weights"].get("stylizers") or {}).values():
            for k, v in info.items():
                if "weight" in k or "loss_net" in k:
                    seen.add(str(v))
    return ", ".join(sorted(seen)) if seen else "unknown"


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


def test_set_noise(rows: list[dict], baseline: str = "none", resamples: int = 2000,
                   confidence: float = 0.95, seed: int = 0) -> list[dict]:  # fmt: skip
    """A diagnostic, never the headline: each arm's difference from ``baseline`` under resampling
    of the test images with the trained heads held fixed (test-set noise only)."""
    from stylaug.core.stats import paired_bootstrap

    out = []
    for key, variants in grouped(rows).items():
        base = variants.get((baseline, None), {})
        for (arm, pool), runs in variants.items():
            seeds = [s for s in sorted(runs) if s in base and _same_test(base[s], runs[s])]
            if arm == baseline or not seeds or resamples <= 0:
                continue
            r = paired_bootstrap(
                np.stack([_correct(base[s]) for s in seeds]),
                np.stack([_correct(runs[s]) for s in seeds]),
                resamples, confidence, seed,
            )  # fmt: skip
            out.append({"scenario": key[3], "source": label(runs[seeds[0]]), "arm": arm,
                        "pool": pool, "seeds": len(seeds), **_points(r)})  # fmt: skip
    return out
