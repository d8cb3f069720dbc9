"""The report's main plot: a forest plot of paired differences, because the differences (a point
or two) are the answer and bars from 0 to 100 hide them.

One panel per setup; per scenario, one line per comparison: the style effect (style arm −
unstylized), each arm − ``none``, the filter effect (filtered − random drop). A dot is the
estimate, the thick bar the headline interval (seeds and test images), the thin bar the seed
t-interval."""

from __future__ import annotations

import textwrap
from pathlib import Path

from stylaug.core.io import atomic_path
from stylaug.report.summary import CLASS_POOL_WARNING, RANDOM_DROP, REWEIGHTED, UNSTYLIZED
from stylaug.report.tables import setups, summary_arm

# what each comparison is called on the plot, and its colour
COMPARISONS = {
    UNSTYLIZED: ("− unstylized (style effect)", "tab:blue"),
    "none": ("− none", "0.35"),
    REWEIGHTED: ("− reweighted", "tab:orange"),
    RANDOM_DROP: ("− random drop (filter effect)", "tab:green"),
}


def forest_lines(lines: list[dict]) -> list[tuple[str, str, dict, dict | None]]:
    """(scenario, label, headline effect, seed t-interval) per comparison, in table order."""
    out = []
    for s in lines:
        for ref, (title, _) in COMPARISONS.items():
            if s["vs"].get(ref):
                out.append((s["scenario"], f"{summary_arm(s)} {title}", s["vs"][ref],
                            s["seed_ci"].get(ref), ref))  # fmt: skip
    return out


def plot(summary: list[dict], path: Path, confidence: float = 0.95) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pct = round(confidence * 100)
    panels = [(key, forest_lines(lines)) for key, lines in setups(summary).items()]
    panels = [(k, f) for k, f in panels if f] or [(("no comparisons", ""), [])]
    heights = [max(2.0, 0.32 * len(f) + 1.5) for _, f in panels]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(9.5, sum(heights)), squeeze=False,
        gridspec_kw={"height_ratios": heights}, layout="constrained",
    )  # fmt: skip
    for ax, ((source, setup), lines) in zip(axes[:, 0], panels, strict=True):
        ys = list(range(len(lines)))[::-1]
        for y, (_, _, effect, seed, ref) in zip(ys, lines, strict=True):
            colour = COMPARISONS[ref][1]
            if seed and seed["lo"] is not None:
                ax.plot([seed["lo"], seed["hi"]], [y, y], color="black", lw=0.8, zorder=2)
            ax.plot([effect["lo"], effect["hi"]], [y, y], color=colour, lw=5, alpha=0.45,
                    solid_capstyle="butt", zorder=1)  # fmt: skip
            ax.plot(effect["estimate"], y, "o", color=colour, zorder=3)
        ax.axvline(0, color="gray", lw=0.8)
        ax.set_yticks(ys, [f"{sc}: {name}" for sc, name, *_ in lines], fontsize=8)
        scenarios = [sc for sc, *_ in lines]
        for y, (a, b) in zip(ys, zip(scenarios, scenarios[1:], strict=False), strict=False):
            if a != b:
                ax.axhline(y - 0.5, color="0.85", lw=0.8)
        ax.set_xlabel(
            f"paired difference (accuracy points): dot = estimate,\nthick bar = {pct}% interval "
            f"over seeds and test images, thin bar = {pct}% seed t-interval", fontsize=8,
        )  # fmt: skip
        title = f"{source} (setup {setup})" if setup else source
        ax.set_title("\n".join(textwrap.wrap(title, 75)), fontsize=9, fontweight="bold")
    if any(s["style"] and s["pool"] == "class" for s in summary):
        fig.supxlabel(f"† stylizer pool=class: {CLASS_POOL_WARNING}", fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path
