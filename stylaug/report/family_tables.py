"""The report's style-family sections: every arm of a scenario side by side, the strength sweep,
and accuracy gained per compute hour.

* **Family table** (per setup and scenario): every arm - ``none``, the traditional arms, every
  style family at every strength, combined arms - with its accuracy (mean ± std [t-interval over
  seeds]), the paired difference against ``none`` and against the best traditional arm (the one
  with the highest mean accuracy in that scenario), each with its t-interval over the seeds both
  ran, the stylized images' content score, and what the set cost.
* **Cost**: compute hours per arm (training of the stylizers or decoder that made the scenario's
  images, plus their generation, as recorded in the manifest; mean over seeds) on which device,
  and the paired gain over ``none`` per hour (points per CPU- or GPU-hour).
* **Strength plot** (``report_families.png``): accuracy against alpha per family and scenario,
  with the t-intervals over seeds, ``none`` as a band.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np

from stylaug.artifacts.results import TRADITIONAL_ARMS
from stylaug.core.io import atomic_path
from stylaug.core.stats import mean_ci, paired_difference
from stylaug.report.summary import SCENARIO_ORDER, label


def _acc(row: dict) -> float:
    return 100.0 * row["metrics"]["accuracy"]


def family_groups(rows: list[dict]) -> dict[tuple, dict[str, dict[int, dict]]]:
    """(source label, setup hash, scenario) -> arm -> seed -> row (a rerun replaces a row)."""
    groups: dict[tuple, dict[str, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        groups[(label(r), r.get("setup_hash"), r["scenario"])][r["arm"]][r["seed"]] = r
    order = {s: i for i, s in enumerate(SCENARIO_ORDER)}
    return dict(sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][2], 99))))


def _diff(base: dict, runs: dict, confidence: float) -> dict | None:
    seeds = sorted(set(base) & set(runs))
    if not seeds:
        return None
    return paired_difference(
        [_acc(base[s]) for s in seeds], [_acc(runs[s]) for s in seeds], confidence
    )


def arm_cost(runs: dict) -> dict:
    """Mean compute hours per seed (training + generation) and the device kinds it ran on."""
    per_seed, devices = [], set()
    for r in runs.values():
        c = r.get("style_compute") or {}
        if c.get("training_seconds") is None or c.get("generation_seconds") is None:
            return {"hours": None, "device": None}
        per_seed.append((c["training_seconds"] + c["generation_seconds"]) / 3600.0)
        devices |= set(c.get("devices") or []) | set(c.get("train_devices") or [])
    if not per_seed:
        return {"hours": None, "device": None}
    return {"hours": float(np.mean(per_seed)), "device": "+".join(sorted(devices)) or None}


def content_score(runs: dict) -> float | None:
    scores = [
        q["content_score"]
        for r in runs.values()
        for q in (r.get("style_quality") or {}).values()
        if q.get("content_score") is not None
    ]
    return float(np.mean(scores)) if scores else None


def family_lines(rows: list[dict], confidence: float = 0.95, baseline: str = "none") -> list[dict]:
    """One dict per (setup, scenario, arm) with everything the family table shows."""
    out = []
    for (source, _, scenario), arms in family_groups(rows).items():
        base = arms.get(baseline, {})
        traditional = {a: runs for a, runs in arms.items() if a in TRADITIONAL_ARMS}
        best = max(traditional, key=lambda a: np.mean([_acc(r) for r in traditional[a].values()]),
                   default=None)  # fmt: skip
        for arm, runs in arms.items():
            any_row = next(iter(runs.values()))
            vs_none = _diff(base, runs, confidence) if arm != baseline else None
            cost = (
                arm_cost(runs) if any_row.get("style_family") else {"hours": None, "device": None}
            )
            gain = None
            if vs_none and vs_none["mean"] is not None and cost["hours"]:
                gain = vs_none["mean"] / cost["hours"]
            out.append({
                "source": source,
                "scenario": scenario,
                "arm": arm,
                "family": any_row.get("style_family"),
                "alpha": any_row.get("style_alpha"),
                "traditional": any_row.get("traditional") or (arm if arm in TRADITIONAL_ARMS else None),
                "seeds": len(runs),
                "acc": mean_ci([_acc(r) for r in runs.values()], confidence),
                "vs_none": vs_none,
                "best_traditional": best,
                "vs_best_traditional": _diff(traditional[best], runs, confidence)
                if best and arm != best else None,
                "content_score": content_score(runs),
                **cost,
                "gain_per_hour": gain,
            })  # fmt: skip
    return out


def _ci(stat: dict | None, signed: bool = False) -> str:
    if not stat or stat["mean"] is None:
        return "—"
    f = "+.2f" if signed else ".2f"
    if stat["lo"] is None:
        return f"{stat['mean']:{f}} (1 seed)"
    return f"{stat['mean']:{f}} [{stat['lo']:{f}}, {stat['hi']:{f}}]"


def _acc_cell(stat: dict) -> str:
    if stat["std"] is None:
        return _ci(stat)
    return f"{stat['mean']:.2f} ± {stat['std']:.2f} [{stat['lo']:.2f}, {stat['hi']:.2f}]"


def family_markdown(lines: list[dict], confidence: float = 0.95) -> str:
    """The family table per source and scenario, then accuracy gained per compute hour."""
    if not any(line["family"] for line in lines):
        return ""
    pct = f"{round(confidence * 100)}%"
    text = (
        "## Style families: every arm per scenario\n\n"
        f"Accuracy: mean ± std over seeds [{pct} t-interval]. Differences are paired (same seed) "
        f"with their {pct} t-interval over the seeds both arms ran: against `none`, and against "
        "the best traditional arm of the scenario (highest mean accuracy). Content score: the "
        "stylized images' edge correlation with their sources (1 = edges kept). Cost: hours of "
        "compute per seed for the images the arm adds - training of the stylizers or decoder "
        "that made them plus their generation - on the device named; gain per hour: the paired "
        "gain over `none` divided by it (points per CPU- or GPU-hour).\n\n"
    )
    head = ["arm", "family", "α", "seeds", "accuracy", "vs none", "vs best traditional",
            "content score", "cost (h, device)", "gain per hour"]  # fmt: skip
    for (source, scenario), group in _by_scenario(lines).items():
        best = group[0]["best_traditional"]
        text += f"**{scenario}** — {source}" + (
            f" (best traditional arm: `{best}`)" if best else ""
        )
        text += "\n\n| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n"
        for line in sorted(group, key=_arm_order):
            cost = "—" if line["hours"] is None else f"{line['hours']:.4f} ({line['device']})"
            gain = "—" if line["gain_per_hour"] is None else f"{line['gain_per_hour']:+.1f} pts/h"
            alpha = "—" if line["alpha"] is None else f"{line['alpha']:g}"
            score = "—" if line["content_score"] is None else f"{line['content_score']:.3f}"
            cells = [f"`{line['arm']}`", line["family"] or "—", alpha, str(line["seeds"]),
                     _acc_cell(line["acc"]), _ci(line["vs_none"], True),
                     _ci(line["vs_best_traditional"], True), score, cost, gain]  # fmt: skip
            text += "| " + " | ".join(cells) + " |\n"
        text += "\n"
    return text


def _by_scenario(lines: list[dict]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for line in lines:
        out[(line["source"], line["scenario"])].append(line)
    return out


def _arm_order(line: dict) -> tuple:
    kind = 0 if line["arm"] == "none" else 1 if line["family"] is None else 2
    return (kind, line["traditional"] is not None and kind == 2, line["family"] or "",
            line["alpha"] or 0, line["arm"])  # fmt: skip


def plot_alpha(lines: list[dict], path: Path, confidence: float = 0.95) -> Path | None:
    """Accuracy against alpha per family (one panel per source and scenario), t-intervals over
    seeds as error bars, ``none`` as a grey band; nothing when no run swept alpha (one strength
    makes no curve)."""
    if len({x["alpha"] for x in lines if x["family"]}) < 2:
        return None
    groups = {k: v for k, v in _by_scenario(lines).items() if any(x["family"] for x in v)}
    if not groups:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 4.2), squeeze=False)
    for ax, ((source, scenario), group) in zip(axes[0], groups.items(), strict=True):
        none = next((x for x in group if x["arm"] == "none"), None)
        if none and none["acc"]["mean"] is not None:
            lo, hi = none["acc"]["lo"], none["acc"]["hi"]
            if lo is not None:
                ax.axhspan(lo, hi, color="0.85", label=f"none ({round(confidence * 100)}% CI)")
            ax.axhline(none["acc"]["mean"], color="0.4", lw=1)
        curves = defaultdict(list)
        for x in group:
            if x["family"]:
                key = x["family"] + (f" + {x['traditional']}" if x["traditional"] else "")
                curves[key].append(x)
        for k, (name, pts) in enumerate(sorted(curves.items())):
            pts.sort(key=lambda x: x["alpha"])
            xs = [p["alpha"] + 0.008 * (k - len(curves) / 2) for p in pts]  # no overlapping bars
            ys = [p["acc"]["mean"] for p in pts]
            err = [[(p["acc"]["mean"] - p["acc"]["lo"]) if p["acc"]["lo"] is not None else 0
                    for p in pts],
                   [(p["acc"]["hi"] - p["acc"]["mean"]) if p["acc"]["hi"] is not None else 0
                    for p in pts]]  # fmt: skip
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=name)
        ax.set_title("\n".join([scenario, *textwrap.wrap(source, 70)]), fontsize=7)
        ax.set_xlabel("strength α")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path
