"""The report's tables: the answer first (the style effect per scenario), then every arm against
its references (Markdown), every number (CSV), and a compact rich table for the terminal.

What is the same on every line - dataset, backbone, smoke-data and pretrained-network caveats - is
said once above a table (``header``), never in each line."""

from __future__ import annotations

import sys
from collections import defaultdict

from stylaug.report.summary import (
    CLASS_POOL_WARNING,
    PAPER,
    PAPER_SOURCE,
    POOL_MEANING,
    RANDOM_DROP,
    REWEIGHTED,
    UNSTYLIZED,
    backbone_tags,
    headline,
    is_style_row,
)

REFERENCES = ("none", UNSTYLIZED, REWEIGHTED, RANDOM_DROP)
REFERENCE_TITLE = {
    "none": "− none",
    UNSTYLIZED: "− unstylized (style effect)",
    REWEIGHTED: "− reweighted",
    RANDOM_DROP: "− random drop (filter effect)",
}
COLUMNS = [
    "dataset",
    "backbone",
    "setup",
    "scenario",
    "arm",
    "control",
    "stylizer_pool",
    "seeds",
    "confidence",
    "acc",
    "std_over_seeds",
    "seed_t_ci_lo",
    "seed_t_ci_hi",
    "val_acc",
    *[
        f"{ref}_{k}"
        for ref in REFERENCES
        for k in ("diff", "ci_lo", "ci_hi", "p", "p_holm", "seed_t_ci_lo", "seed_t_ci_hi")
    ],
    "minority_classes",
    "minority_acc",
    "minority_diff_vs_none",
    "stylizers",
    "stylizer_saw_outside_training_set",
    "style_quality_per_class",
]


def _num(x, digits: int = 2, signed: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:{'+' if signed else ''}.{digits}f}"


def _acc(stat: dict) -> str:
    if stat["mean"] is None:
        return "—"
    if stat["std"] is None:
        return f"{stat['mean']:.2f} (1 seed)"
    return f"{stat['mean']:.2f} ± {stat['std']:.2f}"


def _effect(e: dict | None, digits: int = 2, p: bool = True) -> str:
    """``+0.42 [-1.20, +2.04]`` and Holm's p: the headline interval (seeds and test images)."""
    if not e:
        return "—"
    out = f"{e['estimate']:+.{digits}f} [{e['lo']:+.{digits}f}, {e['hi']:+.{digits}f}]"
    if p and e.get("p_holm") is not None:
        out += f" p={e['p_holm']:.2g}"
    return out


def _seed_ci(stat: dict | None) -> str:
    if not stat or stat["mean"] is None or stat["lo"] is None:
        return "—"
    return f"[{stat['lo']:+.2f}, {stat['hi']:+.2f}]"


MINORITY_SHOWN = 3  # minority classes named one by one in a table cell; more: their mean


def _minority(line: dict) -> str:
    """Each minority class's accuracy (and its difference from ``none``); past
    ``MINORITY_SHOWN`` classes, their mean accuracy (each class is in the per-class table)."""
    if not line["minority"]:
        return "—"
    if len(line["minority"]) > MINORITY_SHOWN:
        means = [m["acc"]["mean"] for m in line["minority"] if m["acc"]["mean"] is not None]
        names = ", ".join(m["class"] for m in line["minority"][:MINORITY_SHOWN]) + ", …"
        mean = sum(means) / len(means) if means else None
        return f"mean of {len(line['minority'])} ({names}): {_num(mean, 1)}"
    parts = []
    for m in line["minority"]:
        cell = f"{m['class']} {_num(m['acc']['mean'], 1)}"
        ref = "none" if line["arm"] != "none" else None
        if ref and m["vs"].get(ref):
            cell += f", − none {_effect(m['vs'][ref], 1, p=False)}"
        parts.append(cell)
    return "; ".join(parts)


def _quality(q: dict | None) -> str:
    if not q:
        return ""
    return "; ".join(
        f"{c}: content {_num(v['content_score'], 3)}, gram {_num(v['gram_ratio'], 3)}, "
        f"images {'—' if v['images'] is None else format(v['images'], 'g')}"
        for c, v in sorted(q.items())
    )


def setups(summary: list[dict]) -> dict[tuple, list[dict]]:
    """(source, setup) -> its lines: a table never mixes datasets, backbones or setups."""
    out: dict[tuple, list[dict]] = defaultdict(list)
    for s in summary:
        out[(s["source"], s["setup"])].append(s)
    return out


def answer_table(summary: list[dict], confidence: float = 0.95) -> str:
    """Per setup and scenario: the style effect of each style arm, and what each control says."""
    pct = f"{round(confidence * 100)}%"
    text = ""
    for (source, setup), lines in setups(summary).items():
        styled = [s for s in lines if s["style"] and s["control"] is None]
        if not styled:
            continue
        head = ["scenario", "arm", "seeds", f"style effect: − unstylized [{pct}]",
                "− none", "unstylized − none", "reweighted − none"]  # fmt: skip
        text += f"**{source}** (setup `{setup}`)\n\n| " + " | ".join(head) + " |\n"
        text += "|" + "---|" * len(head) + "\n"
        by = {(s["scenario"], s["arm"]): s for s in lines}
        for s in styled:
            plain = by.get((s["scenario"], UNSTYLIZED)) or {}
            rew = by.get((s["scenario"], REWEIGHTED)) or {}
            cells = [s["scenario"], s["arm_label"], str(s["seeds"]),
                     _effect(s["vs"].get(UNSTYLIZED)), _effect(s["vs"].get("none")),
                     _effect((plain.get("vs") or {}).get("none")),
                     _effect((rew.get("vs") or {}).get("none"))]  # fmt: skip
            text += "| " + " | ".join(cells) + " |\n"
        text += "\n"
    return text


def markdown_table(summary: list[dict], confidence: float = 0.95) -> str:
    """Per setup: every arm of every scenario against each of its references."""
    pct = f"{round(confidence * 100)}%"
    head = ["scenario", "arm", "seeds", "accuracy (mean ± std)",
            *[f"{REFERENCE_TITLE[r]} [{pct}]" for r in REFERENCES],
            f"headline diff, seed t-interval [{pct}]", "minority class: acc., − none"]  # fmt: skip
    text = ""
    for (source, setup), lines in setups(summary).items():
        text += f"**{source}** (setup `{setup}`)\n\n| " + " | ".join(head) + " |\n"
        text += "|" + "---|" * len(head) + "\n"
        for s in lines:
            ref, _ = headline(s)
            cells = [s["scenario"], s["arm_label"], str(s["seeds"]), _acc(s["acc"]),
                     *[_effect(s["vs"].get(r)) for r in REFERENCES],
                     _seed_ci(s["seed_ci"].get(ref)), _minority(s)]  # fmt: skip
            text += "| " + " | ".join(cells) + " |\n"
        text += "\n"
    return text


def paper_table() -> str:
    """The paper's single runs, beside (never inside) our tables: another dataset and setup."""
    text = (
        f"The paper's table ({PAPER_SOURCE}): one run per cell, so a 2-point gap is 8 test "
        "images; no interval, no control. Another setup than any table above.\n\n"
        "| scenario | without augmentation | with augmentation | difference |\n|---|---|---|---|\n"
    )
    for scenario, (a, b) in PAPER.items():
        text += f"| {scenario} | {a:.2f} | {b:.2f} | {b - a:+.2f} |\n"
    return text + "\n"


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
        "averaged over the line's seeds.\n\n"
    )
    if not any(s["style_quality"] for s in styled):
        return text + "Not recorded in these result rows.\n"
    for (source, _), lines in setups(styled).items():
        classes = list(dict.fromkeys(c for s in lines for c in s["style_quality"] or {}))
        head = ["scenario", "arm", "seeds", *classes]
        text += f"{source}:\n\n| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n"
        for s in lines:
            q = s["style_quality"] or {}
            cells = [
                "not recorded"
                if c not in q
                else f"{_num(q[c]['content_score'], 3)} / {_num(q[c]['gram_ratio'], 3)} ("
                + ("—" if q[c]["images"] is None else format(q[c]["images"], "g"))
                + ")"
                for c in classes
            ]
            text += f"| {s['scenario']} | {s['arm_label']} | {s['seeds']} | " + " | ".join(cells)
            text += " |\n"
        text += "\n"
    return text


def header(summary: list[dict], rows: list[dict], rcfg, confidence: float) -> str:
    """What the report is made of, said once: sources, backbones, pools, notes, and what each
    interval means (and does not)."""
    pct = f"{round(confidence * 100)}%"
    text = (
        "# stylaug report\n\n"
        f"From {len(rows)} result rows in `{rcfg.results_file}`. Accuracies and differences in "
        "percentage points.\n\n"
    )
    for source in dict.fromkeys(s["source"] for s in summary):
        text += f"- **{source}**\n"
    backbones = sorted({r["weights"]["backbone"] for r in rows})
    text += "".join(
        f"- backbone `{b}`" + (f" — {'; '.join(backbone_tags(b))}" if backbone_tags(b) else "")
        + "\n"
        for b in backbones
    )  # fmt: skip
    pools = {s["pool"] for s in summary if s["style"]}
    for p in sorted(pools, key=str):
        text += f"- stylizer pool `{p}`: {POOL_MEANING.get(p, p)}\n"
    text += (
        "\n**How to read the numbers.** A style arm adds stylized images; so it also adds images, "
        "optimiser steps and (in the biased cases) a larger minority share. Its **style effect** "
        f"is its difference from `{UNSTYLIZED}`, the same sources added unstylized (same images, "
        "count, steps and class prior); `− none` mixes all of it. `reweighted` is `none` with a "
        "class-balanced loss: the standard answer to imbalance a style arm must beat. A "
        f"quality-filtered arm is compared with `{RANDOM_DROP}`, the same number of images dropped "
        "at random.\n\n"
        f"- **Headline interval** `est [lo, hi]` ({pct}): the paired difference (same seed, same "
        "test images) averaged over seeds and test images, with an interval that covers both "
        "sources of variation - the seeds (scenario draw, stylizers, head initialisation) and the "
        "test images (a crossed variance-components model; seed part on seeds−1 and image part "
        "on images−1 degrees of freedom, combined conservatively). Its false-positive rate was at "
        "most 6% in every simulated setting (`scripts/sim_intervals.py`).\n"
        "- **p** = Holm-adjusted p-value over the family of arms compared with the same "
        "reference in the same setup and scenario (`statsmodels` `multipletests`).\n"
        f"- **Seed t-interval** ({pct}): the same difference over seeds only; beside the headline.\n"
        "- Every figure in a line uses the same seeds: those its arm and all its references ran.\n"
        "- References are chosen by rule, never on test accuracy; the best traditional arm and "
        "the strength α in the family tables are chosen on validation accuracy.\n\n"
    )
    return text + deviations(rows) + notes(rows)


def deviations(rows: list[dict]) -> str:
    """Where these rows depart from the paper's reference code, said once (what they record)."""
    protocol = [r.get("protocol") or {} for r in rows]
    bn = {p.get("backbone_batch_norm") for p in protocol} - {None}
    seeds = {(r["scenario"], r["arm"]): set() for r in rows}
    for r in rows:
        seeds[(r["scenario"], r["arm"])].add(r["seed"])
    most = max((len(v) for v in seeds.values()), default=0)
    items = []
    if "eval" in bn:
        items.append("the frozen backbone's batch norm stays in **eval mode** (the reference code "
                     "left it in train mode, so its statistics moved with every batch; "
                     "`model.backbone.bn_train_mode=true` reproduces that)")  # fmt: skip
    if most > 1:
        items.append(f"**{most} seeds** per cell instead of one run, with intervals")
    items.append("the epoch tested is the one with the best **validation** accuracy, on images "
                 "held out of the training pool (never the test set)")  # fmt: skip
    if any(r.get("control") for r in rows):
        items.append("**matched controls** beside the paper's arms (`unstylized`, `reweighted`, "
                     "random drop)")  # fmt: skip
    if any(r.get("stylizer_pool") == "scenario" for r in rows):
        items.append(
            "stylizers trained only on each scenario's training images "
            "(`stylizer.pool=scenario`; the paper's `class` pool saw validation images)"
        )
    return "**Where this departs from the paper's reference code:** " + "; ".join(items) + ".\n\n"


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


def test_noise_table(lines: list[dict], confidence: float = 0.95, resamples: int = 2000) -> str:
    """The image-only bootstrap, labelled for what it is: a diagnostic of test-set noise."""
    if not lines:
        return ""
    pct = f"{round(confidence * 100)}%"
    text = (
        "## Diagnostic: test-set noise only\n\n"
        f"Each arm − `none` when only the test images are resampled ({resamples} paired "
        f"resamples, {pct} percentile) and the trained heads are held fixed. It ignores the "
        "variation between seeds, so it is narrower than the headline interval and is **not** "
        "evidence of an effect; it shows how much of the headline's width the test set alone "
        "accounts for.\n\n| scenario | source | arm | seeds | − none [test images only] |\n"
        "|---|---|---|---|---|\n"
    )
    for b in lines:
        text += (
            f"| {b['scenario']} | {b['source']} | {b['arm']} | {b['seeds']} | "
            f"{_effect(b, p=False)} |\n"
        )
    return text + "\n"


def csv_rows(summary: list[dict], confidence: float = 0.95) -> list[list]:
    """``COLUMNS`` for every summary line (the paper's numbers are not mixed in)."""
    out = []
    for s in summary:
        a = s["acc"]
        row = [s["dataset"], s["backbone"], s["setup"], s["scenario"], s["arm"], s["control"],
               s["pool"], s["seeds"], confidence, a["mean"], a["std"], a["lo"], a["hi"],
               s["val_acc"]["mean"]]  # fmt: skip
        for ref in REFERENCES:
            e, t = s["vs"].get(ref) or {}, s["seed_ci"].get(ref) or {}
            row += [e.get("estimate"), e.get("lo"), e.get("hi"), e.get("p"), e.get("p_holm"),
                    t.get("lo"), t.get("hi")]  # fmt: skip
        m = s["minority"]
        row += [
            ";".join(x["class"] for x in m),
            ";".join(_num(x["acc"]["mean"], 4) for x in m),
            ";".join(_num((x["vs"].get("none") or {}).get("estimate"), 4, True) for x in m),
            s["stylizers"],
            s["style"] and s["pool"] == "class",
            _quality(s["style_quality"]),
        ]
        out.append(row)
    return out


# --- terminal ------------------------------------------------------------------------------------


def short_arm(arm: str, pool: str | None, style: bool) -> str:
    """``arm/pool`` for narrow places; † marks a class pool, ? a pool the row did not record."""
    if not style:
        return arm
    return f"{arm}/{pool or '?'}" + ("†" if pool == "class" else "")


def summary_arm(s: dict) -> str:
    return short_arm(s["arm_name"], s["pool"], s["style"])


def rich_tables(summary: list[dict], confidence: float = 0.95) -> list:
    """A compact table per setup for a 100-column terminal; report.md keeps every column."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    pct = f"{round(confidence * 100)}%"
    out = []
    for (source, setup), lines in setups(summary).items():
        t = Table(box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True, pad_edge=False)
        t.add_column("scenario", no_wrap=True)
        t.add_column("arm", min_width=12)
        t.add_column("seeds", justify="right")
        t.add_column("acc.", justify="right", no_wrap=True)
        for ref in ("none", UNSTYLIZED):
            t.add_column(f"− {ref}\n[{pct} CI] p", justify="right", no_wrap=True)
        t.add_column("minority\nacc., − none", min_width=10)
        last = None
        for s in lines:
            if last is not None and s["scenario"] != last:
                t.add_section()
            last = s["scenario"]
            minority = "\n".join(
                f"{m['class']} {_num(m['acc']['mean'], 1)}"
                + (f" {_num(m['vs']['none']['estimate'], 1, True)}" if m["vs"].get("none") else "")
                for m in s["minority"]
            ) or "—"  # fmt: skip
            t.add_row(
                s["scenario"], summary_arm(s), str(s["seeds"]), _num(s["acc"]["mean"], 1),
                _effect(s["vs"].get("none"), 1).replace(" p=", "\np="),
                _effect(s["vs"].get(UNSTYLIZED), 1).replace(" p=", "\np="),
                minority,
            )  # fmt: skip
        out.append(Text(("\n" if out else "") + f"{source} (setup {setup})", style="bold"))
        out.append(t)
    notes = [
        f"acc.: mean test accuracy (%) over the line's seeds. − ref: paired difference, {pct} "
        "interval over seeds and test images, Holm-adjusted p. − unstylized is the style effect: "
        "the same sources added unstylized."
    ]
    if any(s["style"] and s["pool"] == "class" for s in summary):
        notes.append(f"† pool=class: {CLASS_POOL_WARNING}.")
    notes.append("Every reference, the seed t-intervals and the paper's table: report.md.")
    out.append(Text("\n" + "\n".join(notes), style="italic"))
    return out


def print_summary(summary, confidence=0.95, console=None) -> None:
    """Print the compact tables; 100 columns when the output is not a terminal (logs, pipes)."""
    from rich.console import Console

    console = console or Console(width=None if sys.stdout.isatty() else 100)
    for part in rich_tables(summary, confidence):
        console.print(part)
