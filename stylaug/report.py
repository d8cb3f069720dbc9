"""``python -m stylaug.report``: every classify result as the paper's table, with real statistics.

Reads ``results/results.jsonl`` (never wandb) and writes ``results/report.md``, ``report.csv`` and
``report.png``, and prints a compact table. One line per scenario and augmented arm (and, for style
arms, the stylizer pool that made its images), like the paper's table (test accuracy without / with
augmentation), plus four kinds of uncertainty that answer different questions:

* the seed interval: mean ± std and a t-interval over seeds (scenario draw + head initialisation);
* the paired seed difference: with - without for the same seed, t-interval over seeds;
* the test-image bootstrap: the same difference under resampling of the fixed test images;
* McNemar's test per seed on the shared test images.

The minority class's accuracy in the biased scenarios, the stylized images' content score and
Gram-distance ratio, and the paper's own single-run numbers are listed beside ours; rows from the
synthetic dataset, random-init or non-paper backbones, and stylizers that saw images outside the
training set say so wherever they appear.
"""

from __future__ import annotations

import csv
import io
import logging
import sys
import textwrap
from collections import Counter, defaultdict
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig

from stylaug.io import atomic_path, atomic_write_text, read_jsonl
from stylaug.runtime import finish_logger, make_logger
from stylaug.stats import mcnemar, mean_ci, paired_bootstrap, paired_difference

log = logging.getLogger(__name__)

SCENARIO_ORDER = ["balanced", "biased_case1", "biased_case2", "scarce"]
# The paper's table (Jain, Rohit, Shyama): single runs, Places365, ImageNet ResNet-18, 400 test images.
PAPER = {
    "biased_case1": (88.25, 90.25),
    "biased_case2": (88.25, 87.50),
    "scarce": (86.00, 86.00),
}
PAPER_SOURCE = "paper (Places365, ImageNet, 1 run)"
EFFICIENTNET_TAG = "pretrained EfficientNet-Lite0, not the paper's VGG16/ResNet-18"
EFFICIENTNET_RANDOM_TAG = "EfficientNet-Lite0, not the paper's VGG16/ResNet-18"
# classify writes the same sentence into a class-pool row's notes
CLASS_POOL_WARNING = "stylizer saw images outside the training set"
POOL_MEANING = {
    "scenario": "leak-free: each stylizer trained only on that scenario's training images",
    "class": "the paper's protocol: each stylizer trained on the class's whole pool, validation "
    f"images included ({CLASS_POOL_WARNING})",
    None: "not recorded (a row from before classify wrote stylizer_pool)",
}
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
    latest: dict[tuple, dict] = {}  # a rerun (same setup, arm, pool, seed) replaces the older row
    for r in rows:
        key = (r["dataset"], r["weights"]["backbone"], r.get("setup_hash"), r["scenario"])
        latest[(key, (r["arm"], r.get("stylizer_pool")), r["seed"])] = r
    groups: dict[tuple, dict[tuple, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))
    for (key, variant, seed), r in latest.items():
        groups[key][variant][seed] = r

    def order(key):
        s = key[3]
        return (SCENARIO_ORDER.index(s) if s in SCENARIO_ORDER else len(SCENARIO_ORDER), s)

    out = []
    for key in sorted(groups, key=order):
        variants = groups[key]
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
    minority = any_row.get("minority")
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


def _minority_acc(group: dict, minority: str | None, confidence: float) -> float | None:
    if not minority:
        return None
    per_seed = [_pct(group[s]["metrics"]["per_class"].get(minority)) for s in sorted(group)]
    return mean_ci(per_seed, confidence)["mean"]


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


def _fmt_minority(s: dict) -> str:
    if not s["minority"] or s["minority_acc_without"] is None:
        return "—"
    w = s["minority_acc_with"]
    return f"{s['minority']}: {s['minority_acc_without']:.1f} → " + (
        "—" if w is None else f"{w:.1f}"
    )


def _fmt_quality(q: dict | None) -> str:
    if not q:
        return ""
    num = lambda x: "—" if x is None else f"{x:.3f}"  # noqa: E731
    return "; ".join(
        f"{c}: content {num(v['content_score'])}, gram {num(v['gram_ratio'])}, "
        f"images {'—' if v['images'] is None else format(v['images'], 'g')}"
        for c, v in sorted(q.items())
    )


def markdown_table(summary: list[dict], confidence: float = 0.95, resamples: int = 2000) -> str:
    """The paper's table with our statistics; paper rows beside ours."""
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
        if s["scenario"] in PAPER and s["scenario"] not in shown:
            shown.add(s["scenario"])
            a, b = PAPER[s["scenario"]]
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
    num = lambda x: "—" if x is None else f"{x:.3f}"  # noqa: E731
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
                else f"{num(q[c]['content_score'])} / {num(q[c]['gram_ratio'])} ("
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


def load_results(results_file: str | Path) -> list[dict]:
    rows = read_jsonl(results_file)
    if not rows:
        raise FileNotFoundError(
            f"no classify results in {results_file}. Run `python -m stylaug.classify` (e.g. "
            "`-m scenario=balanced,biased_case1,biased_case2,scarce seed=0,1,2`) first, with the "
            "same paths.root."
        )
    return rows


def csv_rows(summary: list[dict], confidence: float = 0.95) -> list[list]:
    """``COLUMNS`` for every summary line, then the paper's rows."""
    out = []
    for s in summary:
        w, a, d, b = s["without"], s["with"], s["diff"], s["bootstrap"] or {}
        out.append(
            [
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
                s["minority"],
                s["minority_acc_without"],
                s["minority_acc_with"],
                s["dataset"],
                s["backbone"],
                s["stylizers"],
                s["style"] and s["pool"] == "class",
                _fmt_quality(s["style_quality"]),
            ]
        )
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


def _short_arm(s: dict) -> str:
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
            if s["scenario"] in PAPER and s["scenario"] not in shown:
                shown.add(s["scenario"])
                a, b = PAPER[s["scenario"]]
                row = (s["scenario"], "paper 1 run", "1", f"{a:.1f}", f"{b:.1f}", f"{b - a:+.1f}")
                t.add_row(*row, "—", "—", style="dim")
            minority = "—"
            if s["minority"] and s["minority_acc_without"] is not None:
                w = s["minority_acc_with"]
                minority = f"{s['minority']}\n{s['minority_acc_without']:.1f}→" + (
                    "—" if w is None else f"{w:.1f}"
                )
            t.add_row(
                s["scenario"],
                _short_arm(s),
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
        names = [f"{s['scenario']}\n{_short_arm(s)}" for s in rows]
        ax, dax = sub.subplots(2, 1, sharex=True, height_ratios=[3, 2])
        sub.suptitle(
            "\n".join(textwrap.wrap(source, int(width * 11), break_on_hyphens=False)),
            fontsize=10,
            fontweight="bold",
        )
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
            px = [x for x, s in zip(xs, rows, strict=True) if s["scenario"] in PAPER]
            py = [PAPER[s["scenario"]][k] for s in rows if s["scenario"] in PAPER]
            ax.scatter(
                px, py, marker="x", color="red", zorder=3, label="paper (1 run)" if k == 0 else None
            )
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_xlim(-0.6, max(len(rows), 2) - 0.4)  # one line alone still gets slim bars
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))

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
        paper = [(x, s) for x, s in zip(xs, rows, strict=True) if s["scenario"] in PAPER]
        if paper:
            dax.scatter(
                [x for x, _ in paper],
                [PAPER[s["scenario"]][1] - PAPER[s["scenario"]][0] for _, s in paper],
                marker="x",
                color="red",
                zorder=3,
                label="paper (1 run)",
            )
        dax.axhline(0, color="gray", lw=0.8)
        dax.set_xticks(xs, names, fontsize=8)
        dax.set_ylabel("with − without (points)")
        if dax.get_legend_handles_labels()[0]:
            dax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    if any(s["style"] and s["pool"] == "class" for s in summary):
        fig.supxlabel(f"† stylizer pool=class: {CLASS_POOL_WARNING}", fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def _errors(stats: list[dict], centre: str) -> list[list[float]]:
    """Asymmetric error-bar lengths around ``centre``; 0 where an interval is missing (1 seed)."""
    return [
        [(st[centre] - st["lo"]) if st["lo"] is not None else 0 for st in stats],
        [(st["hi"] - st[centre]) if st["hi"] is not None else 0 for st in stats],
    ]


def _settings(rcfg) -> tuple[float, int, int]:
    confidence = float(rcfg.confidence)
    if not 0 < confidence < 1:
        raise ValueError(f"report.confidence={confidence} must be between 0 and 1 (e.g. 0.95)")
    resamples = int(rcfg.get("bootstrap", 2000))
    if resamples < 0:
        raise ValueError(f"report.bootstrap={resamples} must be >= 0 (0 turns the bootstrap off)")
    return confidence, resamples, int(rcfg.get("bootstrap_seed", 0))


def report(cfg: DictConfig) -> str:
    """Write report.md/.csv/.png, print the compact table, log a wandb Table; return the markdown."""
    rcfg = cfg.report
    confidence, resamples, boot_seed = _settings(rcfg)
    rows = load_results(rcfg.results_file)
    summary = summarize(rows, confidence, rcfg.baseline, resamples, boot_seed)
    md = (
        header(summary, rows, rcfg, confidence, resamples)
        + markdown_table(summary, confidence, resamples)
        + ("\n" + quality_table(summary) if any(s["style"] for s in summary) else "")
    )
    out = Path(rcfg.out_dir)
    atomic_write_text(out / "report.md", md)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    writer.writerows(csv_rows(summary, confidence))
    atomic_write_text(out / "report.csv", buf.getvalue())
    plot(summary, out / "report.png", confidence)
    print_summary(summary, confidence, resamples)
    log.info("wrote %s, %s, %s", out / "report.md", out / "report.csv", out / "report.png")
    logger = make_logger(cfg, name="report", group="report", job_type="report")
    try:
        if logger and type(logger).__name__ == "WandbLogger":
            logger.log_table(
                key="report",
                columns=COLUMNS,
                data=[
                    [v if isinstance(v, str | int | float) or v is None else str(v) for v in r]
                    for r in csv_rows(summary, confidence)
                ],
            )
    finally:
        finish_logger(logger)
    return md


@hydra.main(version_base="1.3", config_path="../conf", config_name="report")
def main(cfg: DictConfig) -> None:
    report(cfg)


if __name__ == "__main__":
    main()
