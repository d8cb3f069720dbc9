"""``python -m stylaug.report``: every classify result as the paper's table, with real statistics.

Reads ``results/results.jsonl`` (never wandb) and writes ``results/report.md``, ``report.csv`` and
``report.png``. One line per scenario and augmented arm, like the paper's table (test accuracy
without / with augmentation), plus: mean ± std and a t-interval over seeds, the paired (same seed)
difference with its interval, McNemar's test per seed on the shared test images, and the minority
class's accuracy in the biased scenarios. The paper's own single-run numbers are listed beside
ours; rows from the synthetic dataset or random-init backbones say so.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from pathlib import Path

import hydra
from omegaconf import DictConfig

from stylaug.io import atomic_path, atomic_write_text, read_jsonl
from stylaug.runtime import finish_logger, make_logger
from stylaug.stats import mcnemar, mean_ci, paired_difference

log = logging.getLogger(__name__)

SCENARIO_ORDER = ["balanced", "biased_case1", "biased_case2", "scarce"]
# The paper's table (Jain, Rohit, Shyama): single runs, Places365, ImageNet ResNet-18, 400 test images.
PAPER = {
    "biased_case1": (88.25, 90.25),
    "biased_case2": (88.25, 87.50),
    "scarce": (86.00, 86.00),
}
COLUMNS = [
    "scenario",
    "source",
    "arm",
    "seeds",
    "acc_without",
    "std_without",
    "ci_without_lo",
    "ci_without_hi",
    "acc_with",
    "std_with",
    "ci_with_lo",
    "ci_with_hi",
    "diff",
    "diff_lo",
    "diff_hi",
    "mcnemar_p",
    "mcnemar_significant",
    "minority",
    "minority_acc_without",
    "minority_acc_with",
    "dataset",
    "backbone",
    "stylizers",
]


def label(row: dict) -> str:
    """What the numbers are: dataset and backbone, with smoke/random-init warnings spelled out."""
    backbone = row["weights"]["backbone"]
    tags = []
    if row["dataset"] == "synthetic":
        tags.append("SYNTHETIC data (smoke)")
    if "random-init" in backbone:
        tags.append("RANDOM-INIT backbone")
    return f"ours: {row['dataset']}, {backbone.split('(')[0]}" + (
        f" [{'; '.join(tags)}]" if tags else ""
    )


def _pct(x):
    return None if x is None else 100.0 * x


def summarize(rows: list[dict], confidence: float = 0.95, baseline: str = "none") -> list[dict]:
    """One dict per (setup, scenario, augmented arm): accuracies, intervals, paired tests."""
    latest: dict[tuple, dict] = {}  # a rerun (same setup, arm, seed) replaces the older row
    for r in rows:
        key = (r["dataset"], r["weights"]["backbone"], r.get("setup_hash"), r["scenario"])
        latest[(key, r["arm"], r["seed"])] = r
    groups: dict[tuple, dict[str, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))
    for (key, arm, seed), r in latest.items():
        groups[key][arm][seed] = r

    def order(key):
        s = key[3]
        return (SCENARIO_ORDER.index(s) if s in SCENARIO_ORDER else len(SCENARIO_ORDER), s)

    out = []
    for key in sorted(groups, key=order):
        arms = groups[key]
        base = arms.get(baseline, {})
        for arm in [a for a in arms if a != baseline] or [baseline]:
            runs = arms[arm] if arm != baseline else {}
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
            tests = []
            for s in seeds:
                a, b = base[s], runs[s]
                if a.get("test_hash") != b.get("test_hash") or a["targets"] != b["targets"]:
                    continue  # not the same test images: no paired test
                ok_a = [p == t for p, t in zip(a["predictions"], a["targets"], strict=True)]
                ok_b = [p == t for p, t in zip(b["predictions"], b["targets"], strict=True)]
                tests.append({"seed": s, **mcnemar(ok_a, ok_b)})

            out.append(
                {
                    "scenario": key[3],
                    "source": label(any_row),
                    "arm": arm,
                    "seeds": len(seeds) if runs else len(base),
                    "without": mean_ci(acc_b, confidence),
                    "with": mean_ci(acc_a, confidence),
                    "diff": diff,
                    "mcnemar": tests,
                    "minority": minority,
                    "minority_acc_without": _minority_acc(base, minority, confidence),
                    "minority_acc_with": _minority_acc(runs, minority, confidence)
                    if runs
                    else None,
                    "dataset": key[0],
                    "backbone": key[1],
                    "stylizers": _stylizer_weights(runs),
                }
            )
    return out


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


def _fmt(stat: dict) -> str:
    if stat["mean"] is None:
        return "—"
    if stat["std"] is None:
        return f"{stat['mean']:.2f} (1 seed)"
    return f"{stat['mean']:.2f} ± {stat['std']:.2f} [{stat['lo']:.2f}, {stat['hi']:.2f}]"


def _fmt_diff(stat: dict) -> str:
    if stat["mean"] is None:
        return "—"
    if stat["lo"] is None:
        return f"{stat['mean']:+.2f}"
    return f"{stat['mean']:+.2f} [{stat['lo']:+.2f}, {stat['hi']:+.2f}]"


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


def markdown_table(summary: list[dict], confidence: float = 0.95) -> str:
    """The paper's table with our statistics; paper rows beside ours."""
    pct = f"{round(confidence * 100)}%"
    head = [
        "scenario",
        "source",
        "arm",
        "seeds",
        f"acc. without aug (mean ± std [{pct} CI])",
        "acc. with aug",
        f"paired diff [{pct} CI]",
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
                f"| {s['scenario']} | paper (Places365, ImageNet, 1 run) | style | 1 | {a:.2f} | "
                f"{b:.2f} | {b - a:+.2f} | — | — |"
            )
        lines.append(
            f"| {s['scenario']} | {s['source']} | {s['arm']} | {s['seeds']} | {_fmt(s['without'])} | "
            f"{_fmt(s['with'])} | {_fmt_diff(s['diff'])} | {_fmt_tests(s['mcnemar'])} | "
            f"{_fmt_minority(s)} |"
        )
    return "\n".join(lines) + "\n"


def load_results(results_file: str | Path) -> list[dict]:
    rows = read_jsonl(results_file)
    if not rows:
        raise FileNotFoundError(
            f"no classify results in {results_file}. Run `python -m stylaug.classify` (e.g. "
            "`-m scenario=balanced,biased_case1,biased_case2,scarce seed=0,1,2`) first, with the "
            "same paths.root."
        )
    return rows


def csv_rows(summary: list[dict]) -> list[list]:
    out = []
    for s in summary:
        w, a, d = s["without"], s["with"], s["diff"]
        out.append(
            [
                s["scenario"],
                s["source"],
                s["arm"],
                s["seeds"],
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
                ";".join(f"{t['p']:.6g}" for t in s["mcnemar"]),
                sum(t["p"] < 0.05 for t in s["mcnemar"]),
                s["minority"],
                s["minority_acc_without"],
                s["minority_acc_with"],
                s["dataset"],
                s["backbone"],
                s["stylizers"],
            ]
        )
    for scenario, (a, b) in PAPER.items():
        out.append(
            [
                scenario,
                "paper (Places365, ImageNet, 1 run)",
                "style",
                1,
                a,
                None,
                None,
                None,
                b,
                None,
                None,
                None,
                b - a,
                None,
                None,
                "",
                0,
                None,
                None,
                None,
                "places365",
                "resnet18:ImageNet",
                "paper",
            ]
        )
    return out


def plot(summary: list[dict], path: Path, confidence: float = 0.95) -> Path:
    """Accuracy without / with augmentation per scenario (CI error bars); paper values as markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = list(dict.fromkeys(s["source"] for s in summary))
    fig, axes = plt.subplots(len(sources), 1, figsize=(8, 3.4 * len(sources)), squeeze=False)
    for ax, source in zip(axes[:, 0], sources, strict=True):
        rows = [s for s in summary if s["source"] == source]
        names = [f"{s['scenario']}\n({s['arm']})" for s in rows]
        for k, (side, colour) in enumerate((("without", "tab:gray"), ("with", "tab:blue"))):
            means = [s[side]["mean"] or 0 for s in rows]
            err = [
                [
                    (s[side]["mean"] - s[side]["lo"]) if s[side]["lo"] is not None else 0
                    for s in rows
                ],
                [
                    (s[side]["hi"] - s[side]["mean"]) if s[side]["hi"] is not None else 0
                    for s in rows
                ],
            ]
            xs = [i + (k - 0.5) * 0.38 for i in range(len(rows))]
            ax.bar(
                xs,
                means,
                0.36,
                yerr=err,
                capsize=3,
                color=colour,
                label=f"{side} augmentation (mean, {round(confidence * 100)}% CI)",
            )
            px = [x for x, s in zip(xs, rows, strict=True) if s["scenario"] in PAPER]
            py = [PAPER[s["scenario"]][k] for s in rows if s["scenario"] in PAPER]
            ax.scatter(
                px, py, marker="x", color="red", zorder=3, label="paper (1 run)" if k == 0 else None
            )
        ax.set_xticks(range(len(rows)), names, fontsize=8)
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(source, fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def report(cfg: DictConfig) -> str:
    """Write report.md/.csv/.png, print the table, log it to wandb if configured; return the markdown."""
    rcfg = cfg.report
    confidence = float(rcfg.confidence)
    if not 0 < confidence < 1:
        raise ValueError(f"report.confidence={confidence} must be between 0 and 1 (e.g. 0.95)")
    rows = load_results(rcfg.results_file)
    summary = summarize(rows, confidence, rcfg.baseline)
    table = markdown_table(summary, confidence)
    out = Path(rcfg.out_dir)
    notes = sorted({n for r in rows for n in r.get("notes", [])})
    md = (
        "# stylaug report\n\n"
        f"From {len(rows)} result rows in `{rcfg.results_file}`. Accuracies in %; intervals are "
        f"{round(confidence * 100)}% t-intervals over seeds; the paired difference is with - without "
        "for the same seed; McNemar compares both arms' predictions on the same test images per "
        "seed (exact binomial for < 25 discordant images).\n\n"
        + "".join(f"**Note:** {n}.\n\n" for n in notes)
        + table
    )
    atomic_write_text(out / "report.md", md)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    writer.writerows(csv_rows(summary))
    atomic_write_text(out / "report.csv", buf.getvalue())
    plot(summary, out / "report.png", confidence)
    print(table)
    log.info("wrote %s, %s, %s", out / "report.md", out / "report.csv", out / "report.png")
    logger = make_logger(cfg, name="report", group="report", job_type="report")
    try:
        if logger and type(logger).__name__ == "WandbLogger":
            logger.log_table(
                key="report",
                columns=COLUMNS,
                data=[
                    [v if isinstance(v, str | int | float) or v is None else str(v) for v in r]
                    for r in csv_rows(summary)
                ],
            )
    finally:
        finish_logger(logger)
    return table


@hydra.main(version_base="1.3", config_path="../conf", config_name="report")
def main(cfg: DictConfig) -> None:
    report(cfg)


if __name__ == "__main__":
    main()
