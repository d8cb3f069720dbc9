"""The numbers behind the report's robustness, per-class, quality-filter and agreement sections.

Rows are grouped by ``stylaug.report.summary.grouped`` - by dataset, backbone, setup and scenario, then by arm
and stylizer pool, the newest row per seed - so every number here comes from the same rows as the
main table. Accuracies are in %, with the mean and a t-interval over seeds; corruption errors are
Hendrycks & Dietterich's, with the ``none`` arm in AlexNet's place: the mCE (``none`` = 100) and the
relative mCE (the errors above each arm's clean error).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from scipy import stats as st

from stylaug.artifacts.results import CORRUPTION_FAMILIES
from stylaug.core.stats import mean_ci, paired_difference
from stylaug.report.summary import arm_label, grouped, is_style_row, label, minorities


def _pct(x):
    return None if x is None else 100.0 * x


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _describe(key, variant, runs: dict) -> dict:
    any_row = next(iter(runs.values()))
    style = any(is_style_row(r) for r in runs.values())
    return {
        "scenario": key[3],
        "source": label(any_row),
        "arm": variant[0],
        "pool": variant[1],
        "arm_label": arm_label(variant[0], variant[1], style),
        "seeds": len(runs),
        "minority": minorities(any_row),
        "classes": any_row.get("classes") or list(any_row["metrics"]["per_class"]),
    }


# --- corruption robustness ------------------------------------------------------------------------


def robustness_lines(rows: list[dict], confidence: float = 0.95, baseline: str = "none"):
    """One line per (setup, scenario, arm, pool) whose rows carry robustness numbers."""
    out = []
    for key, variants in grouped(rows).items():
        base = {s: r for s, r in variants.get((baseline, None), {}).items() if r.get("robustness")}
        for variant, runs in variants.items():
            runs = {s: r for s, r in runs.items() if r.get("robustness")}
            if runs:
                out.append(_robustness_line(key, variant, runs, base, confidence))
    return out


def _robustness_line(key, variant, runs: dict, base: dict, confidence: float) -> dict:
    seeds = sorted(runs)
    rob = {s: runs[s]["robustness"] for s in seeds}
    clean = [100 * runs[s]["metrics"]["accuracy"] for s in seeds]
    corrupted = [_pct(rob[s]["mean_corruption_accuracy"]) for s in seeds]
    shared = [s for s in seeds if s in base and base[s] is not runs[s]]
    first = rob[seeds[0]]
    severities = [str(s) for s in first["severities"]]
    return {
        **_describe(key, variant, runs),
        "spec": {k: first[k] for k in ("library", "corruptions", "severities", "seed", "size")},
        "clean": mean_ci(clean, confidence),
        "corrupted": mean_ci(corrupted, confidence),
        "drop": mean_ci([a - b for a, b in zip(clean, corrupted, strict=True)], confidence),
        "mce": mean_ci([_pct(rob[s].get("mce")) for s in seeds], confidence),
        "relative_mce": mean_ci(
            [_pct(rob[s]["relative_mce"]) if "mce" in rob[s] else None for s in seeds], confidence
        ),  # rows from before mce was recorded held the mCE under this name: left out
        "corrupted_diff": paired_difference(
            [_pct(base[s]["robustness"]["mean_corruption_accuracy"]) for s in shared],
            [_pct(rob[s]["mean_corruption_accuracy"]) for s in shared],
            confidence,
        )
        if shared
        else None,
        "families": {  # in ImageNet-C's order (rows store them sorted)
            f: _mean(_pct(rob[s]["family_accuracy"].get(f)) for s in seeds)
            for f in CORRUPTION_FAMILIES
            if f in first["family_accuracy"]
        },
        "corruptions": {
            c: _mean(_pct(rob[s]["corruption_accuracy"].get(c)) for s in seeds)
            for c in first["corruptions"]
        },
        "ce": {
            c: _mean(_pct((rob[s].get("ce") or {}).get(c)) for s in seeds)
            for c in first["corruptions"]
        },
        "by_severity": {
            "0": mean_ci(clean, confidence),
            **{
                sev: mean_ci(
                    [_pct(rob[s]["severity_accuracy"].get(sev)) for s in seeds], confidence
                )
                for sev in severities
            },
        },
    }


# --- per class --------------------------------------------------------------------------------------


def per_class_lines(rows: list[dict]) -> list[dict]:
    """Per (setup, scenario, arm, pool): each class's clean and mean corrupted accuracy (%),
    averaged over seeds (corrupted: None where the rows have no robustness numbers)."""
    out = []
    for key, variants in grouped(rows).items():
        for variant, runs in variants.items():
            line = _describe(key, variant, runs)
            rs = [runs[s] for s in sorted(runs)]
            line["clean"] = {
                c: _mean(_pct(r["metrics"]["per_class"].get(c)) for r in rs)
                for c in line["classes"]
            }
            robust = [r["robustness"] for r in rs if r.get("robustness")]
            line["corrupted"] = {
                c: _mean(_pct(rob["per_class_mean"].get(c)) for rob in robust) if robust else None
                for c in line["classes"]
            }
            line["confusion"] = np.sum([r["metrics"]["confusion"] for r in rs], axis=0).tolist()
            out.append(line)
    return out


# --- quality filter -------------------------------------------------------------------------------


def filter_lines(rows: list[dict]) -> list[dict]:
    """Per (setup, scenario, arm, pool) with a quality filter: what it dropped, per seed."""
    out = []
    for key, variants in grouped(rows).items():
        for variant, runs in variants.items():
            runs = {s: r for s, r in runs.items() if r.get("quality_filter")}
            if not runs:
                continue
            qf = {s: runs[s]["quality_filter"] for s in sorted(runs)}
            out.append(
                {
                    **_describe(key, variant, runs),
                    "rule": next(iter(qf.values()))["rule"],
                    "per_seed": {
                        s: {k: q[k] for k in ("available", "dropped", "kept")}
                        | {"per_class": q["per_class"]}
                        for s, q in qf.items()
                    },
                }
            )
    return out


# --- ImageNet agreement vs content score -------------------------------------------------------------


def agreement_lines(rows: list[dict], bins: int = 8) -> list[dict]:
    """Per stylized set (family): every image once, its content score against whether the ImageNet
    classifier gives source and stylized image the same top-1 label, and their shared top-5."""
    points: dict[str, dict[str, list]] = defaultdict(dict)
    about: dict[str, dict] = {}
    for r in rows:
        ag = r.get("imagenet_agreement")
        if not ag:
            continue
        # a set is only ever pooled with itself: same dataset, backbone and classifier
        family = f"{r['dataset']}, {r['weights']['backbone'].split('(')[0].strip()}: {ag['set']}"
        about.setdefault(family, {"classifier": ag["classifier"], "input": ag["input"]})
        for ident, score, top1, shared in ag["points"]:
            if score is not None:
                points[family][ident] = [score, top1, shared]
    out = []
    for family, by_id in sorted(points.items()):
        x = np.array(list(by_id.values()), float)
        score, top1, shared = x[:, 0], x[:, 1], x[:, 2]
        rho = st.spearmanr(score, shared) if len(x) > 2 and np.ptp(score) > 0 else None
        out.append(
            {
                "family": family,
                **about[family],
                "images": len(x),
                "content_score": float(score.mean()),
                "top1_agreement": float(top1.mean()),
                "top5_overlap": float(shared.mean() / 5),
                "spearman_rho": None
                if rho is None or np.isnan(rho.statistic)
                else float(rho.statistic),
                "spearman_p": None if rho is None or np.isnan(rho.pvalue) else float(rho.pvalue),
                "bins": _bins(score, top1, shared, bins),
            }
        )
    return out


def _bins(score, top1, shared, bins: int) -> list[dict]:
    """Equal-count bins of the content score: each bin's score range, images and agreement."""
    order = np.argsort(score, kind="stable")
    out = []
    for part in np.array_split(order, min(bins, len(order))):
        if len(part):
            out.append(
                {
                    "lo": float(score[part].min()),
                    "hi": float(score[part].max()),
                    "centre": float(np.median(score[part])),
                    "images": int(len(part)),
                    "top1_agreement": float(top1[part].mean()),
                    "top5_overlap": float(shared[part].mean() / 5),
                }
            )
    return out
