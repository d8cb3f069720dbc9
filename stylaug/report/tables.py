"""The report's tables: Markdown (every column), CSV (every number), and a compact rich table for
the terminal (readable at 100 columns)."""

from __future__ import annotations

import sys
from collections import defaultdict

from stylaug.report.summary import (
    CLASS_POOL_WARNING,
    PAPER,
    PAPER_DATASETS,
    PAPER_SOURCE,
    POOL_MEANING,
    backbone_tags,
    is_style_row,
    paper_numbers,
)

MINORITY_SHOWN = 3  # minority classes named one by one in a table cell; more: their mean

COLUMNS = [
    "scenario",
    "source",
    "arm",
    "stylizer_pool",
    "seeds",
    "confidence",
    "acc_without",
    "std_without_over_seeds",
    "seed_t_ci_without_lo",
    "seed_t_ci_without_hi",
    "acc_with",
    "std_with_over_seeds",
    "seed_t_ci_with_lo",
    "seed_t_ci_with_hi",
    "paired_seed_diff",
    "paired_seed_diff_t_ci_lo",
    "paired_seed_diff_t_ci_hi",
    "test_bootstrap_diff",
    "test_bootstrap_diff_ci_lo",
    "test_bootstrap_diff_ci_hi",
    "test_bootstrap_seeds",
    "test_bootstrap_images",
    "test_bootstrap_resamples",
    "mcnemar_p_per_seed",
    "mcnemar_seeds_below_0.05",
    "minority",
    "minority_acc_without",
    "minority_acc_with",
    "dataset",
    "backbone",
    "stylizers",
    "stylizer_saw_outside_training_set",
    "style_quality_per_class",
]


def _fmt(stat: dict) -> str:
    if stat["mean"] is None:
        return "—"
    if stat["std"] is None:
        return f"{stat['mean']:.2f} (1 seed)"
    return f"{stat['mean']:.2f} ± {stat['std']:.2f} [{stat['lo']:.2f}, {stat['hi']:.2f}]"


def _fmt_diff(stat: dict, digits: int = 2) -> str:
    if stat["mean"] is None:
        return "—"
    if stat["lo"] is None:
        return f"{stat['mean']:+.{digits}f}"
    return f"{stat['mean']:+.{digits}f} [{stat['lo']:+.{digits}f}, {stat['hi']:+.{digits}f}]"


def _fmt_boot(b: dict | None, seeds: int, digits: int = 2, compact: bool = False) -> str:
    """Estimate and interval (compact: the interval alone); says so when seeds were left out."""
    if b is None:
        return "—"
    ci = f"[{b['lo']:+.{digits}f}, {b['hi']:+.{digits}f}]"
    out = ci if compact else f"{b['estimate']:+.{digits}f} {ci}"
    if b["seeds"] != seeds:
        out += ("\n" if compact else " ") + f"({b['seeds']} of {seeds} seeds)"
    return out


def _fmt_tests(tests: list[dict]) -> str:
    if not tests:
        return "—"
    return (
        ", ".join(f"{t['p']:.3g}" for t in tests)
        + f" ({sum(t['p'] < 0.05 for t in tests)}/{len(tests)} < 0.05)"
    )


def _arrow(without, with_, digits: int = 1) -> str:
    return (
        ("—" if without is None else f"{without:.{digits}f}")
        + " → "
        + ("—" if with_ is None else f"{with_:.{digits}f}")
    )


def _fmt_minority(s: dict, separator: str = "; ") -> str:
    """Each minority class's accuracy without → with; past ``MINORITY_SHOWN`` classes, their mean
    (each class is in the per-class table and per_class.csv)."""
    if not s["minority"] or s["minority_acc_without"] is None:
        return "—"
    per = s["minority_per_class"]
    if len(per) <= MINORITY_SHOWN:
        return separator.join(f"{c}: {_arrow(*acc)}" for c, acc in per.items())
    names = ", ".join(list(per)[:MINORITY_SHOWN]) + ", …"
    return (
        f"mean of {len(per)} ({names}): {_arrow(s['minority_acc_without'], s['minority_acc_with'])}"
    )


def _num3(x) -> str:
    return "—" if x is None else f"{x:.3f}"


def _fmt_quality(q: dict | None) -> str:
    if not q:
        return ""
    return "; ".join(
        f"{c}: content {_num3(v['content_score'])}, gram {_num3(v['gram_ratio'])}, "
        f"images {'—' if v['images'] is None else format(v['images'], 'g')}"
        for c, v in sorted(q.items())
    )


def markdown_table(summary: list[dict], confidence: float = 0.95, resamples: int = 2000) -> str:
    """The paper's table with our statistics; the paper's rows beside ours (Places365 and its
    synthetic stand-in only: ``summary.paper_numbers``)."""
    pct = f"{round(confidence * 100)}%"
    head = [
        "scenario",
        "source",
        "arm (stylizer pool)",
        "seeds",
        f"acc. without aug: mean ± std over seeds [{pct} t-interval over seeds]",
        "acc. with aug (same)",
        f"paired seed diff, with − without [{pct} t-interval over seeds]",
        f"test-image bootstrap of the diff [{pct} percentile, {resamples} resamples]",
        "McNemar p per seed",
        "minority-class acc.",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    shown = set()
    for s in summary:
        if paper_numbers(s) and s["scenario"] not in shown:
            shown.add(s["scenario"])
            a, b = paper_numbers(s)
            lines.append(
                f"| {s['scenario']} | {PAPER_SOURCE} | style | 1 | {a:.2f} | "
                f"{b:.2f} | {b - a:+.2f} | — | — | — |"
            )
        lines.append(
            f"| {s['scenario']} | {s['source']} | {s['arm_label']} | {s['seeds']} | "
            f"{_fmt(s['without'])} | {_fmt(s['with'])} | {_fmt_diff(s['diff'])} | "
            f"{_fmt_boot(s['bootstrap'], s['seeds'])} | {_fmt_tests(s['mcnemar'])} | "
            f"{_fmt_minority(s)} |"
        )
    return "\n".join(lines) + "\n"


def quality_table(summary: list[dict]) -> str:
    """Stylized images per class: did the stylizer keep the content and move toward the style?"""
    styled = [s for s in summary if s["style"]]
    if not styled:
        return ""
    text = (
        "## Stylized images: content score and Gram-distance ratio per class\n\n"
        "Content score: mean Pearson correlation of Sobel edge magnitudes between source and "
        "stylized image (1 = edges kept, 0 = unrelated). Gram ratio: mean Gram distance of the "
        "stylized images to the style image divided by that of the source images (< 1 = moved "
        "toward the style). Each cell: content score / Gram ratio (stylized images per seed), "
        "averaged over the seeds.\n\n"
    )
    if not any(s["style_quality"] for s in styled):
        return text + "Not recorded in these result rows.\n"
    for source in dict.fromkeys(s["source"] for s in styled):
        lines = [s for s in styled if s["source"] == source]
        classes = list(dict.fromkeys(c for s in lines for c in s["style_quality"] or {}))
        head = ["scenario", "arm (stylizer pool)", "seeds", *classes]
        text += f"{source}:\n\n| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n"
        for s in lines:
            q = s["style_quality"] or {}
            cells = [
                "not recorded"
                if c not in q
                else f"{_num3(q[c]['content_score'])} / {_num3(q[c]['gram_ratio'])} ("
                + ("—" if q[c]["images"] is None else format(q[c]["images"], "g"))
                + ")"
                for c in classes
            ]
            seeds = max((v["seeds"] for v in q.values()), default=0)
            text += (
                f"| {s['scenario']} | {s['arm_label']} | {seeds} | " + " | ".join(cells) + " |\n"
            )
        text += "\n"
    return text


def header(summary: list[dict], rows: list[dict], rcfg, confidence: float, resamples: int) -> str:
    """What the report is made of and what each interval means (and does not)."""
    pct = f"{round(confidence * 100)}%"
    boot = (
        f"{resamples} resamples of the test images with replacement; each resample is applied to "
        "both arms and every seed (paired), and the statistic is the mean over seeds of (with − "
        f"without) on the resampled images; {pct} percentile interval"
        if resamples
        else "off (report.bootstrap=0)"
    )
    text = (
        "# stylaug report\n\n"
        f"From {len(rows)} result rows in `{rcfg.results_file}`. Accuracies in %. Each line "
        f"compares one arm with the baseline arm `{rcfg.baseline}` over the seeds both ran.\n\n"
        "What the intervals mean:\n\n"
        f"- **Seed interval** (acc. without / with: mean ± std [{pct} t-interval over seeds]): "
        "what changes between seeds is the scenario draw (which training and validation images, "
        "which get stylized) and the classifier head's initialisation.\n"
        f"- **Paired seed difference** (with − without for the same seed, {pct} t-interval over "
        "seeds): the same variation, with what a seed shares between the two arms cancelled.\n"
        f"- **Test-image bootstrap** of that difference: {boot}. It measures the sampling error "
        "of the fixed test set, with the trained heads held fixed; only seeds whose two arms "
        "were tested on identical images take part.\n"
        "- **McNemar p per seed**: both arms' predictions on the same test images, one seed at a "
        "time (exact binomial below 25 discordant images, else chi-square with continuity "
        "correction).\n\n"
        "Held fixed in every interval: the test images (the dataset's whole test split, the same "
        "for every seed — so the seed interval says nothing about test-set sampling error), the "
        "frozen backbone, and, with `stylizer.pool=class`, the stylizers (one per class, shared "
        "by every seed). No interval covers another backbone, dataset or test set.\n\n"
    )
    backbones = sorted({r["weights"]["backbone"] for r in rows})
    text += "".join(
        f"**Backbone:** `{b}`"
        + (f" — {'; '.join(backbone_tags(b))}" if backbone_tags(b) else "")
        + ".\n\n"
        for b in backbones
    )
    pools = {s["pool"] for s in summary if s["style"]}
    if pools:
        text += (
            "**Stylizer pools** (style arms): "
            + "; ".join(
                f"`{p}` = {POOL_MEANING.get(p, p)}" if p else POOL_MEANING[None]
                for p in sorted(pools, key=str)
            )
            + ".\n\n"
        )
    return text + notes(rows)


def notes(rows: list[dict]) -> str:
    """Every row note once; a note only some rows carry names the arms (and pools) it applies to."""
    where: dict[str, set] = defaultdict(set)
    for r in rows:
        for n in r.get("notes", []):
            where[n].add(short_arm(r["arm"], r.get("stylizer_pool"), is_style_row(r)))
    everywhere = {short_arm(r["arm"], r.get("stylizer_pool"), is_style_row(r)) for r in rows}
    return "".join(
        f"**Note{'' if where[n] == everywhere else ' (' + ', '.join(sorted(where[n])) + ' rows)'}:** "
        f"{n}.\n\n"
        for n in sorted(where)
    )


def csv_rows(summary: list[dict], confidence: float = 0.95) -> list[list]:
    """``COLUMNS`` for every summary line, then the paper's rows."""
    out = []
    for s in summary:
        w, a, d, b = s["without"], s["with"], s["diff"], s["bootstrap"] or {}
        out.append(
            [  # minority: every minority class (;-separated), accuracies: their mean
                s["scenario"],
                s["source"],
                s["arm"],
                s["pool"],
                s["seeds"],
                confidence,
                w["mean"],
                w["std"],
                w["lo"],
                w["hi"],
                a["mean"],
                a["std"],
                a["lo"],
                a["hi"],
                d["mean"],
                d["lo"],
                d["hi"],
                b.get("estimate"),
                b.get("lo"),
                b.get("hi"),
                b.get("seeds"),
                b.get("images"),
                b.get("resamples"),
                ";".join(f"{t['p']:.6g}" for t in s["mcnemar"]),
                sum(t["p"] < 0.05 for t in s["mcnemar"]),
                ";".join(s["minority"]),
                s["minority_acc_without"],
                s["minority_acc_with"],
                s["dataset"],
                s["backbone"],
                s["stylizers"],
                s["style"] and s["pool"] == "class",
                _fmt_quality(s["style_quality"]),
            ]
        )
    if not any(s["dataset"] in PAPER_DATASETS for s in summary):
        return out  # the paper's rows only stand beside its own dataset (or its stand-in)
    for scenario, (a, b) in PAPER.items():
        row = dict.fromkeys(COLUMNS)
        row.update(
            scenario=scenario,
            source=PAPER_SOURCE,
            arm="style",
            stylizer_pool="class",
            seeds=1,
            acc_without=a,
            acc_with=b,
            paired_seed_diff=b - a,
            mcnemar_p_per_seed="",
            dataset="places365",
            backbone="resnet18:ImageNet",
            stylizers="paper",
            stylizer_saw_outside_training_set=True,
            style_quality_per_class="",
        )
        row["mcnemar_seeds_below_0.05"] = 0
        out.append(list(row.values()))
    return out


# --- terminal ------------------------------------------------------------------------------------


def short_arm(arm: str, pool: str | None, style: bool) -> str:
    """``arm/pool`` for narrow places; † marks a class pool, ? a pool the row did not record."""
    if not style:
        return arm
    return f"{arm}/{pool or '?'}" + ("†" if pool == "class" else "")


def summary_arm(s: dict) -> str:
    return short_arm(s["arm"], s["pool"], s["style"])


def rich_tables(summary: list[dict], confidence: float = 0.95, resamples: int = 2000) -> list:
    """A compact table per source for a 100-column terminal; report.md keeps every column."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    pct = f"{round(confidence * 100)}%"
    out = []
    for source in dict.fromkeys(s["source"] for s in summary):
        rows = [s for s in summary if s["source"] == source]
        t = Table(box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True, pad_edge=False)
        t.add_column("scenario", no_wrap=True)
        t.add_column("arm/pool", min_width=14)
        t.add_column("seeds", justify="right")
        for name in ("without", "with", f"paired diff\n[{pct} CI]", f"bootstrap\n[{pct} CI]"):
            t.add_column(name, justify="right", no_wrap=True)
        t.add_column("minority", min_width=10)
        shown = set()
        for s in rows:
            if paper_numbers(s) and s["scenario"] not in shown:
                shown.add(s["scenario"])
                a, b = paper_numbers(s)
                row = (s["scenario"], "paper 1 run", "1", f"{a:.1f}", f"{b:.1f}", f"{b - a:+.1f}")
                t.add_row(*row, "—", "—", style="dim")
            minority = _fmt_minority(s, "\n").replace(": ", "\n").replace(" → ", "→")
            t.add_row(
                s["scenario"],
                summary_arm(s),
                str(s["seeds"]),
                "—" if s["without"]["mean"] is None else f"{s['without']['mean']:.1f}",
                "—" if s["with"]["mean"] is None else f"{s['with']['mean']:.1f}",
                _fmt_diff(s["diff"], 1),
                _fmt_boot(s["bootstrap"], s["seeds"], 1, compact=True),
                minority,
            )
        out.append(Text(("\n" if out else "") + source, style="bold"))
        out.append(t)
    notes = [
        f"without/with: mean test accuracy (%) over seeds. paired diff: with − without per seed, "
        f"{pct} t-interval over seeds (scenario draw + head init). bootstrap: {pct} percentile "
        + (
            f"interval over {resamples} paired resamples of the fixed test images."
            if resamples
            else "interval: off (report.bootstrap=0)."
        )
    ]
    if any(s["style"] and s["pool"] == "class" for s in summary):
        notes.append(f"† pool=class: {CLASS_POOL_WARNING}.")
    if any(s["style"] and s["pool"] is None for s in summary):
        notes.append("?: stylizer pool not recorded (an older result row).")
    notes.append("Every column, McNemar per seed and the stylized-image quality: report.md.")
    out.append(Text("\n" + "\n".join(notes), style="italic"))
    return out


def print_summary(summary, confidence=0.95, resamples=2000, console=None) -> None:
    """Print the compact tables; 100 columns when the output is not a terminal (logs, pipes)."""
    from rich.console import Console

    console = console or Console(width=None if sys.stdout.isatty() else 100)
    for part in rich_tables(summary, confidence, resamples):
        console.print(part)


# --- plot ----------------------------------------------------------------------------------------
