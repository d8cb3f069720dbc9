"""``python -m stylaug.report``: every classify result as the paper's table, with real statistics.

Reads ``results/results.jsonl`` (never wandb) and writes ``results/report.md``, ``report.csv`` and
``report.png``, and prints a compact table. One line per scenario and augmented arm (and, for style
arms, the stylizer pool that made its images), like the paper's table (test accuracy without / with
augmentation), plus four kinds of uncertainty that answer different questions:

* the seed interval: mean ± std and a t-interval over seeds (scenario draw + head initialisation);
* the paired seed difference: with - without for the same seed, t-interval over seeds;
* the test-image bootstrap: the same difference under resampling of the fixed test images;
* McNemar's test per seed on the shared test images.

The minority classes' accuracy (every one of them), the stylized images' content score and
Gram-distance ratio, and - for Places365 and its synthetic stand-in only - the paper's own
single-run numbers are listed beside ours; rows from the synthetic dataset, random-init or
non-paper backbones, and stylizers that saw images outside the training set say so wherever they
appear.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from omegaconf import DictConfig

from stylaug.artifacts.results import load_results
from stylaug.core.io import atomic_write_text
from stylaug.core.runtime import finish_logger, make_logger
from stylaug.report.beyond_accuracy_sections import sections, tables, write_csvs
from stylaug.report.family_tables import family_lines, family_markdown, plot_alpha
from stylaug.report.html_page import write_html
from stylaug.report.plots import plot
from stylaug.report.summary import summarize
from stylaug.report.tables import (
    COLUMNS,
    csv_rows,
    header,
    markdown_table,
    print_summary,
    quality_table,
)

log = logging.getLogger(__name__)


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
        + "\n"
        + link_main_plot()
    )
    out = Path(rcfg.out_dir)
    families = family_lines(rows, confidence, rcfg.baseline)
    if family_markdown(families, confidence):
        md += "\n" + family_markdown(families, confidence)
        if plot_alpha(families, out / "report_families.png", confidence):
            md += "![accuracy against strength](report_families.png)\n"
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    writer.writerows(csv_rows(summary, confidence))
    atomic_write_text(out / "report.csv", buf.getvalue())
    plot(summary, out / "report.png", confidence)
    md += sections(rows, cfg, confidence)  # robustness, per class, filter, agreement, figures
    atomic_write_text(out / "report.md", md)
    extra = tables(rows, confidence, rcfg.baseline)
    write_csvs(extra, out)
    write_html(md, out)
    log.info(
        "wrote %s, %s, %s, %s and %s", out / "report.md", out / "report.html", out / "report.csv",
        out / "report.png", ", ".join(f"{name}.csv" for name in extra),
    )  # fmt: skip
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
            for name, (columns, data) in extra.items():
                logger.log_table(
                    key=name, columns=columns, data=[list(map(_cell, r)) for r in data]
                )
    finally:
        finish_logger(logger)
    print_summary(summary, confidence, resamples)  # last, so a run's output ends with the table
    return md


def _cell(v):
    return v if isinstance(v, str | int | float) or v is None else str(v)


def link_main_plot() -> str:
    return "![Accuracy without / with augmentation and the paired difference](report.png)\n"
