"""The report's style-family sections: every arm of a scenario side by side, the strength sweep,
and what the added images cost.

* **Family table** (per setup and scenario): every arm - ``none``, the controls, the traditional
  arms, every style family at every strength, combined arms - with its accuracy over the line's
  seeds, its difference from ``none`` and from the best traditional arm (the one with the highest
  mean *validation* accuracy), each with the headline interval over seeds and test images and
  Holm's p over the arms compared with that reference; the stylized images' content score; what
  the set cost. Where a family ran at several strengths, the α with the best mean validation
  accuracy is marked: the one to quote. Nothing here is chosen on test accuracy.
* **Cost**: device-hours per seed for the images the arm adds, CPU and GPU apart: their generation,
  plus each stylizer's or decoder's training divided among every result row that used that network
  (a network shared by 9 rows costs each row a ninth). The gain over ``none`` stands in its own
  column with its interval; points per hour are shown only where that interval is above 0.
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
from stylaug.core.stats import holm, paired_effect
from stylaug.report.summary import SCENARIO_ORDER, grouped

DEVICE_KINDS = ("cpu", "gpu")


def network_users(rows: list[dict]) -> dict[str, int]:
    """How many result rows (the newest per line and seed) used each stylizer or decoder."""
    users: dict[str, int] = defaultdict(int)
    for variants in grouped(rows).values():
        for runs in variants.values():
            for r in runs.values():
                for net in (r.get("style_compute") or {}).get("networks") or {}:
                    users[net] += 1
    return users


def row_cost(row: dict, users: dict[str, int]) -> dict[str, float] | None:
    """Device-hours of the images one row adds, by device kind: generation plus its share of each
    network's training. None where the row's records predate the per-network costs."""
    c = row.get("style_compute") or {}
    if c.get("networks") is None or c.get("generation_seconds") is None:
        return None
    hours = dict.fromkeys(DEVICE_KINDS, 0.0)
    for kind, seconds in (c.get("generation_by_device") or {}).items():
        hours[kind if kind in hours else "cpu"] += seconds / 3600
    for net, info in c["networks"].items():
        if info.get("seconds") is None:
            return None
        kind = info.get("device") if info.get("device") in hours else "cpu"
        hours[kind] += info["seconds"] / 3600 / max(users.get(net, 1), 1)
    return hours


def _correct(row: dict) -> np.ndarray:
    return np.asarray(row["predictions"]) == np.asarray(row["targets"])


def _effect(base: dict, runs: dict, seeds: list[int], confidence: float) -> dict | None:
    seeds = [s for s in seeds if s in base and base[s]["targets"] == runs[s]["targets"]]
    if len(seeds) < 2:
        return None
    e = paired_effect(
        np.stack([_correct(base[s]) for s in seeds]),
        np.stack([_correct(runs[s]) for s in seeds]),
        confidence,
    )
    return {**e, **{k: 100 * e[k] for k in ("estimate", "lo", "hi")}}


def family_lines(rows: list[dict], summary: list[dict], confidence: float = 0.95) -> list[dict]:
    """One dict per (setup, scenario, arm) with everything the family table shows; ``summary``
    (``stylaug.report.summary.summarize``) gives each line's seeds, accuracy and − none."""
    users = network_users(rows)
    runs_of = {
        (key[0], key[1], key[2], key[3], arm, pool): runs
        for key, variants in grouped(rows).items()
        for (arm, pool), runs in variants.items()
    }
    out = []
    for (_, scenario), lines in _by_setup_scenario(summary).items():
        runs = {id(x): runs_of[(x["dataset"], x["backbone"], x["setup"], scenario, x["arm"],
                                x["pool"])] for x in lines}  # fmt: skip
        traditional = [x for x in lines if x["arm"] in TRADITIONAL_ARMS]
        best = max(traditional, key=lambda x: x["val_acc"]["mean"] or -1, default=None)
        vs_best = {}
        if best is not None:
            for x in lines:
                if x is not best:
                    vs_best[x["arm"], x["pool"]] = _effect(
                        runs[id(best)], runs[id(x)], x["seed_list"], confidence
                    )
            found = [e for e in vs_best.values() if e]
            for e, p in zip(found, holm([e["p"] for e in found]), strict=True):
                e["p_holm"] = p
        for x in lines:
            any_row = next(iter(runs[id(x)].values()))
            costs = [row_cost(runs[id(x)][s], users) for s in x["seed_list"]]
            cost = (
                {k: float(np.mean([c[k] for c in costs])) for k in DEVICE_KINDS}
                if any_row.get("style_family") and costs and None not in costs
                else None
            )
            gain = x["vs"].get("none")
            hours = sum(cost.values()) if cost else None
            out.append({
                "source": x["source"],
                "setup": x["setup"],
                "scenario": scenario,
                "arm": x["arm"],
                "pool": x["pool"],
                "control": x["control"],
                "family": any_row.get("style_family"),
                "alpha": any_row.get("style_alpha"),
                "traditional": any_row.get("traditional")
                or (x["arm"] if x["arm"] in TRADITIONAL_ARMS else None),
                "seeds": x["seeds"],
                "acc": x["acc"],
                "val_acc": x["val_acc"],
                "vs_none": gain,
                "best_traditional": best["arm"] if best else None,
                "vs_best_traditional": vs_best.get((x["arm"], x["pool"])),
                "content_score": content_score(runs[id(x)]),
                "cost": cost,
                "gain_per_hour": gain["estimate"] / hours
                if gain and hours and gain["lo"] > 0 else None,
            })  # fmt: skip
    mark_selected_alpha(out)
    return out


def mark_selected_alpha(lines: list[dict]) -> None:
    """Per (setup, scenario, family, traditional part) swept over α: the α with the best mean
    validation accuracy gets ``selected_alpha=True`` (the others False); unswept lines None."""
    sweeps: dict[tuple, list[dict]] = defaultdict(list)
    for x in lines:
        if x["family"] and x["control"] is None:
            sweeps[(x["source"], x["setup"], x["scenario"], x["family"], x["traditional"])].append(
                x
            )
    for group in sweeps.values():
        if len({x["alpha"] for x in group}) < 2:
            continue
        best = max(group, key=lambda x: x["val_acc"]["mean"] or -1)
        for x in group:
            x["selected_alpha"] = x is best


def content_score(runs: dict) -> float | None:
    scores = [
        q["content_score"]
        for r in runs.values()
        for q in (r.get("style_quality") or {}).values()
        if q.get("content_score") is not None
    ]
    return float(np.mean(scores)) if scores else None


def _cell(e: dict | None) -> str:
    if not e:
        return "—"
    p = f" p={e['p_holm']:.2g}" if e.get("p_holm") is not None else ""
    return f"{e['estimate']:+.2f} [{e['lo']:+.2f}, {e['hi']:+.2f}]{p}"


def _acc_cell(stat: dict) -> str:
    if stat["mean"] is None:
        return "—"
    if stat["std"] is None:
        return f"{stat['mean']:.2f} (1 seed)"
    return f"{stat['mean']:.2f} ± {stat['std']:.2f}"


def family_markdown(lines: list[dict], confidence: float = 0.95) -> str:
    """The family table per setup and scenario."""
    if not any(line["family"] for line in lines):
        return ""
    pct = f"{round(confidence * 100)}%"
    text = (
        "## Style families: every arm per scenario\n\n"
        f"Accuracy: mean ± std over the line's seeds. Differences: paired (same seed, same test "
        f"images), {pct} interval over seeds and test images, Holm's p over the arms compared "
        "with the same reference: `none`, and the best traditional arm of the scenario (highest "
        "mean **validation** accuracy). α ✓: the strength with the best mean validation "
        "accuracy, the one to quote. Content score: the stylized images' edge correlation with "
        "their sources (1 = edges kept). Cost: device-hours per seed, CPU and GPU apart, for "
        "the images the arm adds (generation + each network's training divided among the rows "
        "that use it). Gain per hour: − none over the cost, only where − none's interval is "
        "above 0.\n\n"
    )
    head = ["arm", "family", "α", "seeds", "accuracy", "val. accuracy", f"− none [{pct}]",
            f"− best traditional [{pct}]", "content score", "CPU-h", "GPU-h",
            "gain per hour"]  # fmt: skip
    for (_, scenario), group in _by_source_scenario(lines).items():
        best = group[0]["best_traditional"]
        text += f"**{scenario}** — {group[0]['source']} (setup `{group[0]['setup']}`)" + (
            f"; best traditional arm on validation: `{best}`" if best else ""
        )
        text += "\n\n| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n"
        for line in sorted(group, key=_arm_order):
            cost = line["cost"]
            alpha = "—" if line["alpha"] is None else f"{line['alpha']:g}"
            if line.get("selected_alpha"):
                alpha += " ✓"
            score = "—" if line["content_score"] is None else f"{line['content_score']:.3f}"
            gain = "—" if line["gain_per_hour"] is None else f"{line['gain_per_hour']:+.1f} pts/h"
            cells = [f"`{line['arm']}`", line["family"] or line["control"] or "—", alpha,
                     str(line["seeds"]), _acc_cell(line["acc"]), _acc_cell(line["val_acc"]),
                     _cell(line["vs_none"]), _cell(line["vs_best_traditional"]), score,
                     "—" if cost is None else f"{cost['cpu']:.4f}",
                     "—" if cost is None else f"{cost['gpu']:.4f}", gain]  # fmt: skip
            text += "| " + " | ".join(cells) + " |\n"
        text += "\n"
    return text


def _by_setup_scenario(summary: list[dict]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for line in summary:
        out[((line["source"], line["setup"]), line["scenario"])].append(line)
    order = {s: i for i, s in enumerate(SCENARIO_ORDER)}
    return dict(sorted(out.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))))


def _by_source_scenario(lines: list[dict]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = defaultdict(list)
    for line in lines:
        out[((line["source"], line["setup"]), line["scenario"])].append(line)
    return out


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
