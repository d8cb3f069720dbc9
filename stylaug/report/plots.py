"""The report's plot: accuracy without / with augmentation per scenario, with intervals, and the
paired difference with both of its intervals (seeds and test-image bootstrap)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from stylaug.core.io import atomic_path
from stylaug.report.summary import CLASS_POOL_WARNING, paper_numbers
from stylaug.report.tables import summary_arm


def plot(summary: list[dict], path: Path, confidence: float = 0.95) -> Path:
    """Per source: accuracy without / with (seed t-interval bars, paper as markers) and, under it,
    the paired difference with both of its intervals: seed spread beside test-set sampling error.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pct = round(confidence * 100)
    sources = list(dict.fromkeys(s["source"] for s in summary))
    most = max(sum(s["source"] == src for s in summary) for src in sources)
    width = max(9.0, 1.5 * most)
    fig = plt.figure(figsize=(width, 6.0 * len(sources)), layout="constrained")
    for sub, source in zip(np.atleast_1d(fig.subfigures(len(sources), 1)), sources, strict=True):
        rows = [s for s in summary if s["source"] == source]
        ax, dax = sub.subplots(2, 1, sharex=True, height_ratios=[3, 2])
        sub.suptitle(
            "\n".join(textwrap.wrap(source, int(width * 11), break_on_hyphens=False)),
            fontsize=10,
            fontweight="bold",
        )
        accuracy_panel(ax, rows, pct)
        difference_panel(dax, rows, pct)
    if any(s["style"] and s["pool"] == "class" for s in summary):
        fig.supxlabel(f"† stylizer pool=class: {CLASS_POOL_WARNING}", fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def accuracy_panel(ax, rows: list[dict], pct: int) -> None:
    """Bars: mean accuracy without / with augmentation, t-interval over seeds; the paper as x."""
    for k, (side, colour) in enumerate((("without", "tab:gray"), ("with", "tab:blue"))):
        xs = [i + (k - 0.5) * 0.38 for i in range(len(rows))]
        ax.bar(
            xs,
            [s[side]["mean"] or 0 for s in rows],
            0.36,
            yerr=_errors([s[side] for s in rows], "mean"),
            capsize=3,
            color=colour,
            label=f"{side} augmentation (mean, {pct}% t-interval over seeds)",
        )
        px = [x for x, s in zip(xs, rows, strict=True) if paper_numbers(s)]
        py = [paper_numbers(s)[k] for s in rows if paper_numbers(s)]
        ax.scatter(
            px, py, marker="x", color="red", zorder=3, label="paper (1 run)" if k == 0 else None
        )
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_xlim(-0.6, max(len(rows), 2) - 0.4)  # one line alone still gets slim bars
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))


def difference_panel(dax, rows: list[dict], pct: int) -> None:
    """Points: with - without, with the seed t-interval and the test-image bootstrap side by side."""
    xs = list(range(len(rows)))
    seed = [s["diff"] if s["diff"]["mean"] is not None else None for s in rows]
    boot = [s["bootstrap"] for s in rows]
    for shift, stats, key, colour, what in (
        (-0.1, seed, "mean", "black", f"paired seed diff ({pct}% t-interval over seeds)"),
        (0.1, boot, "estimate", "tab:orange", f"test-image bootstrap ({pct}% percentile)"),
    ):
        keep = [(x, st) for x, st in zip(xs, stats, strict=True) if st is not None]
        if keep:
            dax.errorbar(
                [x + shift for x, _ in keep],
                [st[key] for _, st in keep],
                yerr=_errors([st for _, st in keep], key),
                fmt="o",
                color=colour,
                capsize=4,
                label=what,
            )
    paper = [(x, paper_numbers(s)) for x, s in zip(xs, rows, strict=True) if paper_numbers(s)]
    if paper:
        dax.scatter(
            [x for x, _ in paper],
            [b - a for _, (a, b) in paper],
            marker="x",
            color="red",
            zorder=3,
            label="paper (1 run)",
        )
    dax.axhline(0, color="gray", lw=0.8)
    ticks = [
        f"{s['scenario']}\n" + summary_arm(s).replace("/", "\n") for s in rows
    ]  # arm over pool
    dax.set_xticks(xs, ticks, fontsize=8)
    dax.set_ylabel("with − without (points)")
    if dax.get_legend_handles_labels()[0]:
        dax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))


def _errors(stats: list[dict], centre: str) -> list[list[float]]:
    """Asymmetric error-bar lengths around ``centre``; 0 where an interval is missing (1 seed)."""
    return [
        [(st[centre] - st["lo"]) if st["lo"] is not None else 0 for st in stats],
        [(st["hi"] - st[centre]) if st["hi"] is not None else 0 for st in stats],
    ]
