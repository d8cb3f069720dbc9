"""The report's sections beyond clean accuracy: corruption robustness, per-class accuracy, the
quality filter, the ImageNet agreement of stylized images, confusion matrices and sample grids.

``sections`` writes their figures beside ``report.md`` and returns their Markdown (figures are
linked relatively, so report.md and report.html show them); ``tables`` gives every number as
(columns, rows), written as CSV files and logged as wandb Tables - the same numbers in both.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from urllib.parse import quote

from stylaug.core.io import atomic_write_text
from stylaug.report.beyond_accuracy import (
    agreement_lines,
    filter_lines,
    per_class_lines,
    robustness_lines,
)
from stylaug.report.beyond_accuracy_plots import (
    WIDE,
    agreement_plot,
    confusion_plot,
    per_class_plot,
    robustness_plot,
)
from stylaug.report.tables import short_arm

CSV_FILES = ("robustness", "per_class", "quality_filter", "agreement")


def _fmt(stat: dict) -> str:
    """A level over seeds: mean ± std [t-interval]."""
    if stat["mean"] is None:
        return "—"
    if stat["std"] is None:
        return f"{stat['mean']:.2f} (1 seed)"
    return f"{stat['mean']:.2f} ± {stat['std']:.2f} [{stat['lo']:.2f}, {stat['hi']:.2f}]"


def _fmt_diff(stat: dict, digits: int = 2) -> str:
    """A paired difference over seeds: mean [t-interval], signed."""
    if stat["mean"] is None:
        return "—"
    if stat["lo"] is None:
        return f"{stat['mean']:+.{digits}f}"
    return f"{stat['mean']:+.{digits}f} [{stat['lo']:+.{digits}f}, {stat['hi']:+.{digits}f}]"


def _num(x, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _table(head: list[str], lines: list[list[str]]) -> str:
    return "".join(
        "| " + " | ".join(cells) + " |\n"
        for cells in [head, ["---"] * len(head), *[[str(c) for c in row] for row in lines]]
    )


def _by_source(lines: list[dict]):
    for source in dict.fromkeys(s["source"] for s in lines):
        yield source, [s for s in lines if s["source"] == source]


def link(path: Path, out_dir: Path, alt: str) -> str:
    """A Markdown image, relative to report.md's folder (URL-quoted: class and dataset names may
    hold spaces and colons)."""
    rel = quote(Path(os.path.relpath(path, out_dir)).as_posix())
    alt = alt.replace("[", "(").replace("]", ")")
    return f"![{alt}]({rel})\n\n"


# --- sections -------------------------------------------------------------------------------------


def robustness_section(lines: list[dict], out_dir: Path, confidence: float) -> str:
    if not lines:
        return ""
    pct = f"{round(confidence * 100)}%"
    specs = {repr(s["spec"]) for s in lines}
    spec = lines[0]["spec"]
    text = (
        "## Corruption robustness: clean and corrupted test accuracy\n\n"
        f"The test images under ImageNet-C's corruptions ({spec['library']}): "
        f"{', '.join(spec['corruptions'])}; severities {', '.join(map(str, spec['severities']))}; "
        f"corrupted at {spec['size'] or 'their own'} px"
        f"{' (ImageNet-C scale)' if spec['size'] == 224 else ''}, corruption seed {spec['seed']}"
        + (" (some rows used other settings; see robustness.csv)" if len(specs) > 1 else "")
        + ". Each corrupted image is made once and its features are cached. Mean corruption "
        "accuracy: the mean over every corruption and severity. Hendrycks & Dietterich's two "
        "measures, with the `none` arm (same seed) in AlexNet's place, `none` = 100, lower is "
        "more robust: **mCE** - per corruption, the arm's test error summed over the severities "
        "divided by `none`'s, averaged over the corruptions; **relative mCE** - the same with each "
        "arm's clean error subtracted first (how much accuracy falls under corruption, relative "
        f"to how much `none`'s falls). Accuracies in %: mean ± std [{pct} t-interval over seeds]; "
        "the corruptions themselves are fixed (one seed), so no interval covers their draw.\n\n"
    )
    families = list(dict.fromkeys(f for s in lines for f in s["families"]))
    for source, rows in _by_source(lines):
        head = ["scenario", "arm", "seeds", "clean acc.", "mean corruption acc.", "clean − corrupted",
                f"mCE (none = 100) [{pct} CI]", f"relative mCE [{pct} CI]",
                f"corrupted: paired diff vs none [{pct} CI]",
                *families]  # fmt: skip
        body = [
            [
                s["scenario"],
                s["arm_label"],
                s["seeds"],
                _fmt(s["clean"]),
                _fmt(s["corrupted"]),
                _fmt_diff(s["drop"]),
                _fmt_diff_plain(s["mce"]),
                _fmt_diff_plain(s["relative_mce"]),
                _fmt_diff(s["corrupted_diff"]) if s["corrupted_diff"] else "—",
                *[_num(s["families"].get(f)) for f in families],
            ]  # fmt: skip
            for s in rows
        ]
        text += f"{source}:\n\n" + _table(head, body) + "\n"
        corruptions = list(dict.fromkeys(c for s in rows for c in s["corruptions"]))
        text += (
            "Per corruption: accuracy (mean over severities and seeds) / CE (none = 100):\n\n"
            + _table(
                ["scenario", "arm", *corruptions],
                [
                    [
                        s["scenario"],
                        short_arm(s["arm"], s["pool"], s["arm"] != "none"),
                        *[
                            f"{_num(s['corruptions'].get(c))} / {_num(s['ce'].get(c), 0)}"
                            for c in corruptions
                        ],
                    ]  # fmt: skip
                    for s in rows
                ],
            )
            + "\n"
        )
    path = robustness_plot(lines, out_dir / "robustness.png", confidence)
    return text + link(path, out_dir, "Clean and corrupted accuracy per arm")


def _fmt_diff_plain(stat: dict) -> str:
    """mean [lo, hi] without signs (an mCE is a level, not a difference)."""
    if stat["mean"] is None:
        return "—"
    if stat["lo"] is None:
        return f"{stat['mean']:.1f}"
    return f"{stat['mean']:.1f} [{stat['lo']:.1f}, {stat['hi']:.1f}]"


def per_class_section(lines: list[dict], out_dir: Path) -> str:
    text = (
        "## Per-class accuracy: clean / corrupted\n\n"
        "Test accuracy of each class in %, mean over seeds: clean / mean over every corruption "
        "and severity (— without robustness numbers). **Bold**: the scenario's minority "
        f"classes. With more than {WIDE} classes, one row per class.\n\n"
    )
    for source, rows in _by_source(lines):
        classes = list(dict.fromkeys(c for s in rows for c in s["classes"]))

        def cell(s: dict, c: str) -> str:
            value = f"{_num(s['clean'].get(c))} / {_num((s['corrupted'] or {}).get(c))}"
            return f"**{value}**" if c in s["minority"] else value

        if len(classes) <= WIDE:
            head = ["scenario", "arm", "seeds", *classes]
            body = [[s["scenario"], s["arm_label"], s["seeds"]] + [cell(s, c) for c in classes]
                    for s in rows]  # fmt: skip
        else:
            head = ["class"] + [
                f"{s['scenario']}: {short_arm(s['arm'], s['pool'], s['arm'] != 'none')} "
                f"({s['seeds']} seeds)"
                for s in rows
            ]
            body = [[c] + [cell(s, c) for s in rows] for c in classes]
        text += f"{source}:\n\n" + _table(head, body) + "\n"
    path = per_class_plot(lines, out_dir / "per_class.png")
    return text + link(path, out_dir, "Per-class accuracy heatmap")


def rule_text(rule: dict, sep: str = " = ", join: str = ", ") -> str:
    """A filter rule as text; the random-drop control names the rule whose counts it copies."""
    if set(rule) == {"random_drop_like"}:
        return f"random drop, counts of ({rule_text(rule['random_drop_like'], sep, join)})"
    return join.join(f"{k}{sep}{v:g}" for k, v in rule.items())


def filter_section(lines: list[dict]) -> str:
    if not lines:
        return ""
    text = (
        "## Quality filter: stylized images left out\n\n"
        "Style arms with `classifier.quality_filter` train on the stylized images the filter keeps: "
        "kept + dropped = available, and kept is the number of stylized images the arm added. "
        "Per seed, in seed order (one number when every seed agrees).\n\n"
    )
    body = []
    for s in lines:
        seeds = list(s["per_seed"].values())
        rule = rule_text(s["rule"])

        def each(get, seeds=seeds):
            values = [get(q) for q in seeds]
            return str(values[0]) if len(set(values)) == 1 else ", ".join(map(str, values))

        per_class = "; ".join(
            f"{c}: {each(lambda q, c=c: q['per_class'][c]['dropped'])} of "
            f"{each(lambda q, c=c: q['per_class'][c]['available'])}"
            for c in dict.fromkeys(c for q in seeds for c in q["per_class"])
        )
        body.append(
            [
                s["scenario"],
                s["source"],
                s["arm_label"],
                rule,
                s["seeds"],
                each(lambda q: q["available"]),
                each(lambda q: q["dropped"]),
                each(lambda q: q["kept"]),
                per_class,
            ]  # fmt: skip
        )
    head = ["scenario", "source", "arm", "rule", "seeds", "available", "dropped",
            "kept (= added)", "dropped of available, per class"]  # fmt: skip
    return text + _table(head, body) + "\n"


def agreement_section(lines: list[dict], out_dir: Path) -> str:
    if not lines:
        return ""
    text = (
        "## Stylized images: ImageNet agreement vs content score\n\n"
        f"A frozen ImageNet classifier (`{lines[0]['classifier']}`, input `{lines[0]['input']}`) "
        "labels each stylized image and its source (mirrored for mirrored views). Top-1 agreement: "
        "the share of images whose top-1 labels match; top-5 overlap: the mean share of top-5 "
        "labels they have in common. Spearman ρ: rank correlation of the content score with the "
        "number of shared top-5 labels. Every stylized image counts once per family (its "
        "stylized set), whichever rows used it.\n\n"
    )
    body = [
        [
            s["family"],
            s["images"],
            f"{s['content_score']:.3f}",
            f"{100 * s['top1_agreement']:.1f}%",
            f"{100 * s['top5_overlap']:.1f}%",
            _num(s["spearman_rho"], 3),
            "—" if s["spearman_p"] is None else f"{s['spearman_p']:.3g}",
        ]  # fmt: skip
        for s in lines
    ]
    head = ["stylized set (dataset, backbone: set)", "images", "mean content score", "top-1 agreement",
            "top-5 overlap", "Spearman ρ", "p"]  # fmt: skip
    path = agreement_plot(lines, out_dir / "agreement.png")
    return text + _table(head, body) + "\n" + link(path, out_dir, "Agreement vs content score")


def confusion_section(lines: list[dict], out_dir: Path) -> str:
    text = (
        "## Confusion matrices\n\nTest predictions summed over the seeds, per scenario and arm.\n\n"
    )
    for scenario in dict.fromkeys(s["scenario"] for s in lines):
        rows = [s for s in lines if s["scenario"] == scenario]
        path = confusion_plot(rows, out_dir / f"confusion_{scenario}.png")
        text += link(path, out_dir, f"Confusion matrices, {scenario}")
    return text


def samples_section(grids: list[tuple[str, Path]], out_dir: Path) -> str:
    if not grids:
        return ""
    text = "## Sample grids\n\n"
    for caption, path in grids:
        text += f"{caption}:\n\n" + link(path, out_dir, caption)
    return text


def sample_grids(rows: list[dict], cfg) -> list[tuple[str, Path]]:
    """The grids the stages wrote for these rows' data: the dataset's, each stylized set's,
    the corrupted test images and the stylizers' (existing files only)."""
    data_dir, results = Path(cfg.paths.data_dir), Path(cfg.report.out_dir)
    found: dict[Path, str] = {}
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        found[data_dir / dataset / "samples.png"] = f"Dataset {dataset}: training samples"
    for r in rows:
        if r.get("style_source"):
            p = Path(r["style_source"])
            found[p / "samples.png"] = f"Stylized set {p.name}: sources and stylized images"
        rob = r.get("robustness")
        if rob:
            found[results / f"corruptions_{r['dataset']}_{rob['spec_key'][:8]}.png"] = (
                f"A test image of {r['dataset']} under the corruptions"
            )
    stylizer_dir = Path(cfg.stylizer.out_dir).parent
    for r in rows:
        for cls, info in sorted((r["weights"].get("stylizers") or {}).items()):
            sid = info.get("stylizer_id")
            if isinstance(sid, str):
                grid = stylizer_dir / r["dataset"] / cls / f"{sid}_samples.png"
                found[grid] = f"Stylizer {cls}/{sid}: content | stylized"
    return [(caption, p) for p, caption in found.items() if p.is_file()]


def sections(rows: list[dict], cfg, confidence: float) -> str:
    """Every extra section's Markdown; figures written to ``report.out_dir``."""
    out_dir = Path(cfg.report.out_dir)
    per_class = per_class_lines(rows)
    return (
        "\n"
        + robustness_section(
            robustness_lines(rows, confidence, cfg.report.baseline), out_dir, confidence
        )
        + per_class_section(per_class, out_dir)
        + filter_section(filter_lines(rows))
        + agreement_section(agreement_lines(rows), out_dir)
        + confusion_section(per_class, out_dir)
        + samples_section(sample_grids(rows, cfg), out_dir)
    )


# --- every number as a table (CSV and wandb) ---------------------------------------------------------


def _table_of(records: list[dict], columns: list[str]) -> tuple[list[str], list[list]]:
    """(columns, rows) from dicts: ``columns`` first, then any further keys in order seen."""
    columns = list(dict.fromkeys([*columns, *(k for r in records for k in r)]))
    return columns, [[r.get(k) for k in columns] for r in records]


LINE = ("scenario", "source", "arm", "stylizer_pool", "seeds")


def _line_cells(s: dict) -> dict:
    return dict(
        zip(LINE, (s["scenario"], s["source"], s["arm"], s["pool"], s["seeds"]), strict=True)
    )


def robustness_records(rows, confidence: float, baseline: str) -> list[dict]:
    out = []
    for s in robustness_lines(rows, confidence, baseline):
        r = {**_line_cells(s), "confidence": confidence}
        for k in ("clean", "corrupted", "drop", "mce", "relative_mce", "corrupted_diff"):
            stat = s[k] or {}
            r.update({k: stat.get("mean"), f"{k}_lo": stat.get("lo"), f"{k}_hi": stat.get("hi")})
        r.update({f"family_{f}": v for f, v in s["families"].items()})
        r.update({f"acc_{c}": v for c, v in s["corruptions"].items()})
        r.update({f"ce_{c}": v for c, v in s["ce"].items()})
        r.update({f"severity_{k}": v["mean"] for k, v in s["by_severity"].items() if k != "0"})
        spec = s["spec"]
        r.update(
            corruptions=" ".join(spec["corruptions"]),
            severities=" ".join(map(str, spec["severities"])),
            corruption_seed=spec["seed"],
            corruption_size=spec["size"],
            library=spec["library"],
        )
        out.append(r)
    return out


def per_class_records(rows) -> list[dict]:
    return [
        {
            **_line_cells(s),
            "class": c,
            "minority": c in s["minority"],
            "clean_acc": s["clean"].get(c),
            "corrupted_acc": (s["corrupted"] or {}).get(c),
        }  # fmt: skip
        for s in per_class_lines(rows)
        for c in s["classes"]
    ]


def filter_records(rows) -> list[dict]:
    return [
        {
            **_line_cells(s),
            "seed": seed,
            "rule": rule_text(s["rule"], "=", " "),
            "class": c,
            **q,
        }  # fmt: skip
        for s in filter_lines(rows)
        for seed, per in s["per_seed"].items()
        for c, q in per["per_class"].items()
    ]


AGREEMENT_COLUMNS = ["family", "classifier", "input", "images", "content_score",
                     "top1_agreement", "top5_overlap", "spearman_rho", "spearman_p"]  # fmt: skip


def tables(rows: list[dict], confidence: float = 0.95, baseline: str = "none") -> dict:
    """name -> (columns, rows) for robustness, per_class, quality_filter and agreement."""
    return {
        "robustness": _table_of(robustness_records(rows, confidence, baseline), [*LINE]),
        "per_class": _table_of(per_class_records(rows), [*LINE, "class"]),
        "quality_filter": _table_of(filter_records(rows), [*LINE, "seed", "rule", "class"]),
        "agreement": _table_of(
            [{k: s[k] for k in AGREEMENT_COLUMNS} for s in agreement_lines(rows)],
            AGREEMENT_COLUMNS,
        ),
    }


def write_csvs(all_tables: dict, out_dir: Path) -> list[Path]:
    paths = []
    for name, (columns, data) in all_tables.items():
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        writer.writerows(data)
        atomic_write_text(out_dir / f"{name}.csv", buf.getvalue())
        paths.append(out_dir / f"{name}.csv")
    return paths
