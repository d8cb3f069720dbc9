"""The report's figures beyond clean accuracy: accuracy under corruption per arm, the per-class
heatmap, agreement vs content score per stylized set, and confusion matrices."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from stylaug.core.io import atomic_path
from stylaug.report.tables import short_arm

WIDE = 12  # more classes than this: classes run down the rows (tables, heatmaps, matrices)
NUMBERED = 20  # more classes than this: confusion matrix cells without numbers


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, dpi: int = 100) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    _pyplot().close(fig)
    return path


def _arm(s: dict) -> str:
    return short_arm(s["arm"], s["pool"], s["arm"] != "none" and s["pool"] is not None)


def _title(source: str, scenario: str, width: int = 90) -> str:
    return "\n".join(textwrap.wrap(f"{scenario} — {source}", width, break_on_hyphens=False))


def robustness_plot(lines: list[dict], path: Path, confidence: float = 0.95) -> Path:
    """Per (source, scenario): accuracy against severity (0 = clean) per arm, with t-intervals
    over seeds; beside it, each corruption's accuracy (mean over severities) per arm."""
    plt = _pyplot()
    panels = list(dict.fromkeys((s["source"], s["scenario"]) for s in lines))
    fig, axes = plt.subplots(
        len(panels), 2, figsize=(13, 3.6 * len(panels)), squeeze=False, layout="constrained",
        gridspec_kw={"width_ratios": [2, 3]},
    )  # fmt: skip
    pct = round(confidence * 100)
    for (source, scenario), (ax, bx) in zip(panels, axes, strict=True):
        rows = [s for s in lines if (s["source"], s["scenario"]) == (source, scenario)]
        for k, s in enumerate(rows):
            sev = list(s["by_severity"])
            stats = [s["by_severity"][v] for v in sev]
            x = np.array([int(v) for v in sev]) + (k - (len(rows) - 1) / 2) * 0.06
            y = [st["mean"] for st in stats]
            err = [
                [(st["mean"] - st["lo"]) if st["lo"] is not None else 0 for st in stats],
                [(st["hi"] - st["mean"]) if st["hi"] is not None else 0 for st in stats],
            ]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=_arm(s))
        ax.set_xticks(range(0, 6), ["clean", "1", "2", "3", "4", "5"])
        ax.set_xlabel("corruption severity (mean over corruptions)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(_title(source, scenario, 60), fontsize=8)
        ax.legend(fontsize=7, title=f"arm ({pct}% t-interval over seeds)", title_fontsize=7)
        corruptions = list(dict.fromkeys(c for s in rows for c in s["corruptions"]))
        width = 0.8 / max(len(rows), 1)
        for k, s in enumerate(rows):
            xs = np.arange(len(corruptions)) + (k - (len(rows) - 1) / 2) * width
            bx.bar(xs, [s["corruptions"].get(c) or 0 for c in corruptions], width, label=_arm(s))
        bx.axhline(0, color="gray", lw=0.5)
        bx.set_xticks(range(len(corruptions)), corruptions, rotation=30, ha="right", fontsize=8)
        bx.set_ylabel("accuracy (%), mean over severities and seeds")
        bx.set_ylim(0, 100)
        bx.legend(fontsize=7)
    return _save(fig, path)


def per_class_plot(lines: list[dict], path: Path) -> Path:
    """Heatmap per (source, scenario): arms x classes, clean and mean corrupted accuracy; the
    minority classes are framed in red. Past 8 columns (the paper's 4 classes, clean and
    corrupted) the classes run down the rows and the panels stand side by side, so 10 or 50 class
    names stay readable."""
    plt = _pyplot()
    panels = list(dict.fromkeys((s["source"], s["scenario"]) for s in lines))
    robust = any(v is not None for s in lines for v in (s["corrupted"] or {}).values())
    parts = ["clean"] + (["corrupted"] if robust else [])
    arms = [sum((s["source"], s["scenario"]) == p for s in lines) for p in panels]
    most = max(len(s["classes"]) for s in lines)
    tall = len(parts) * most > 8  # the paper's 4 classes, clean and corrupted, stay across
    if tall:
        widths = [1.6 + 0.75 * len(parts) * n for n in arms]
        fig, axes = plt.subplots(
            1, len(panels), figsize=(2.0 + sum(widths), 1.8 + 0.22 * most), squeeze=False,
            layout="constrained", width_ratios=widths,
        )  # fmt: skip
        axes = axes[0]
    else:
        fig, axes = plt.subplots(
            len(panels), 1, figsize=(2.5 + 1.5 * len(parts) * most, sum(1.3 + 0.45 * n for n in arms)),
            squeeze=False, layout="constrained", height_ratios=[1.3 + 0.45 * n for n in arms],
        )  # fmt: skip
        axes = axes[:, 0]
    for (source, scenario), ax in zip(panels, axes, strict=True):
        rows = [s for s in lines if (s["source"], s["scenario"]) == (source, scenario)]
        classes = list(dict.fromkeys(c for s in rows for c in s["classes"]))
        minority = [c for c in classes if c in rows[0]["minority"]]
        grid = np.array(
            [
                [np.nan if (s[k] or {}).get(c) is None else s[k][c] for k in parts for c in classes]
                for s in rows
            ],
            float,
        )
        names = [f"{c}{' ★' if c in minority else ''}" for c in classes]
        if tall:  # classes down, (part, arm) across
            grid = np.concatenate([grid[:, b * len(classes) : (b + 1) * len(classes)].T
                                   for b in range(len(parts))], axis=1)  # fmt: skip
            across = [f"{_arm(s)}\n{k}" for k in parts for s in rows]
            image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=100, aspect="auto")
            ax.set_xticks(range(len(across)), across, fontsize=7, rotation=30, ha="right")
            ax.set_yticks(range(len(classes)), names, fontsize=7)
            for c in minority:
                i = classes.index(c)
                ax.add_patch(plt.Rectangle((-0.5, i - 0.5), grid.shape[1], 1, fill=False,
                                           ec="red", lw=1.5))  # fmt: skip
            if robust:
                ax.axvline(len(rows) - 0.5, color="white", lw=3)
            width = 34
        else:
            image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=100, aspect="auto")
            labels = [f"{n}\n{k}" for k in parts for n in names]
            ax.set_xticks(range(len(labels)), labels, fontsize=7)
            ax.set_yticks(range(len(rows)), [_arm(s) for s in rows], fontsize=8)
            for b in range(len(parts)):
                for c in minority:
                    j = b * len(classes) + classes.index(c)
                    ax.add_patch(
                        plt.Rectangle((j - 0.5, -0.5), 1, len(rows), fill=False, ec="red", lw=2.5)
                    )
            if robust:
                ax.axvline(len(classes) - 0.5, color="white", lw=3)
            width = 90
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                v = grid[i, j]
                ax.text(j, i, "—" if np.isnan(v) else f"{v:.0f}", ha="center", va="center",
                        color="white" if not np.isnan(v) and v < 60 else "black",
                        fontsize=7 if tall else 8)  # fmt: skip
        ax.set_title(
            _title(source, scenario, width) + ("\n★ minority (red frame)" if minority else ""),
            fontsize=8,
        )
    fig.colorbar(image, ax=list(axes), label="test accuracy (%), mean over seeds", shrink=0.8)
    return _save(fig, path)


def agreement_plot(lines: list[dict], path: Path) -> Path:
    """Per stylized set: top-1 agreement and top-5 overlap against the content score, in
    equal-count bins of the content score (marker: the bin's median score)."""
    plt = _pyplot()
    fig, axes = plt.subplots(
        1, len(lines), figsize=(5.2 * len(lines), 3.8), squeeze=False, layout="constrained"
    )
    for s, ax in zip(lines, axes[0], strict=True):
        x = [b["centre"] for b in s["bins"]]
        ax.plot(x, [100 * b["top1_agreement"] for b in s["bins"]], "o-", label="top-1 agreement")
        ax.plot(x, [100 * b["top5_overlap"] for b in s["bins"]], "s--", label="top-5 overlap")
        for b in s["bins"]:
            ax.axvspan(b["lo"], b["hi"], color="gray", alpha=0.07)
        rho = "—" if s["spearman_rho"] is None else f"{s['spearman_rho']:.2f}"
        ax.set_title(
            f"{s['family']}: {s['images']} stylized images\nSpearman ρ(content score, top-5 "
            f"shared) = {rho}",
            fontsize=9,
        )
        ax.set_xlabel("content score (edge correlation with the source)")
        ax.set_ylabel("ImageNet classifier: source vs stylized (%)")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=7, loc="upper left")
    return _save(fig, path)


def confusion_plot(lines: list[dict], path: Path) -> Path:
    """One scenario's confusion matrices, one per arm (and source), summed over seeds. Past
    ``WIDE`` classes they stack down the page, each sized to its classes; past ``NUMBERED``
    classes the cells are colour only (with a colour bar)."""
    plt = _pyplot()
    most = max(len(s["classes"]) for s in lines)
    tall = most > WIDE
    side = max(3.6, 1.6 + 0.32 * most) if not tall else 2.2 + 0.2 * most
    shape = (len(lines), 1) if tall else (1, len(lines))
    fig, axes = plt.subplots(
        *shape, figsize=(side * shape[1], (side + 0.3) * shape[0]), squeeze=False,
        layout="constrained",
    )  # fmt: skip
    for s, ax in zip(lines, axes.ravel(), strict=True):
        cm = np.array(s["confusion"])
        image = ax.imshow(cm, cmap="Blues")
        if len(s["classes"]) <= NUMBERED:
            for i in range(cm.shape[0]):
                for j in range(cm.shape[1]):
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8 if not tall
                            else 6, color="white" if cm[i, j] > cm.max() / 2 else "black")  # fmt: skip
        else:
            fig.colorbar(image, ax=ax, shrink=0.6, label="test images (summed over seeds)")
        ticks = [f"{c}{' ★' if c in s['minority'] else ''}" for c in s["classes"]]
        ax.set_xticks(range(len(ticks)), ticks, rotation=40 if not tall else 90,
                      ha="right" if not tall else "center", fontsize=7 if not tall else 6)  # fmt: skip
        ax.set_yticks(range(len(ticks)), ticks, fontsize=7 if not tall else 6)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
        ax.set_title(
            "\n".join(textwrap.wrap(f"{s['scenario']} {_arm(s)} ({s['seeds']} seeds)", 40)),
            fontsize=8,
        )
    return _save(fig, path)
