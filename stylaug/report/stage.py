"""``python -m stylaug.report``: every classify result as the paper's table, with real statistics.

Reads ``results/results.jsonl`` (never wandb) and writes ``results/report.md``, ``report.html``,
``report.csv`` and ``report.png`` (a forest plot of paired differences), and prints a compact table.
The report leads with the answer - per scenario, the style effect (a style arm minus
``unstylized``, its exact sources added unstylized) and what each control says - then every arm
against its references (``stylaug.report.summary``): headline intervals over seeds and test images,
Holm-adjusted p-values, seed t-intervals beside them, the minority classes, the stylized images'
quality. The paper's single runs are a table of their own; the image-only bootstrap is a
diagnostic section labelled "test-set noise only".
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
from stylaug.core.settings_check import check_settings
from stylaug.report.beyond_accuracy_sections import sections, tables, write_csvs
from stylaug.report.family_tables import family_lines, family_markdown, plot_alpha
from stylaug.report.html_page import write_html
from stylaug.report.plots import plot
from stylaug.report.summary import paper_numbers, summarize, test_set_noise
from stylaug.report.tables import (
    COLUMNS,
    answer_table,
    csv_rows,
    header,
    markdown_table,
    paper_table,
    print_summary,
    quality_table,
    test_noise_table,
)

log = logging.getLogger(__name__)


def _settings(rcfg) -> tuple[float, int, int]:  # confidence, bootstrap resamples, bootstrap seed
    confidence = float(rcfg.confidence)
    if not 0 < confidence < 1:
        raise ValueError(f"report.confidence={confidence} must be between 0 and 1 (e.g. 0.95)")
    resamples = int(rcfg.get("bootstrap", 2000))
    if resamples < 0:
        raise ValueError(f"report.bootstrap={resamples} must be >= 0 (0 turns the bootstrap off)")
    return confidence, resamples, int(rcfg.get("bootstrap_seed", 0))


def report(cfg: DictConfig) -> str:
    """Write report.md/.csv/.png, print the compact table, log a wandb Table; return the markdown."""
    check_settings(cfg)  # every numeric setting in range, before any work
    rcfg = cfg.report
    confidence, resamples, boot_seed = _settings(rcfg)
    rows = load_results(rcfg.results_file)
    summary = summarize(rows, confidence, rcfg.baseline)
    md = (
        header(summary, rows, rcfg, confidence)
        + "## The answer: the style effect per scenario\n\n"
        + (answer_table(summary, confidence) or "No style arm in these rows.\n\n")
        + link_main_plot()
        + "\n## Every arm against its references\n\n"
        + markdown_table(summary, confidence)
        + (paper_table() if any(paper_numbers(s) for s in summary) else "")
        + ("\n" + quality_table(summary) if any(s["style"] for s in summary) else "")
    )
    out = Path(rcfg.out_dir)
    families = family_lines(rows, summary, confidence)
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
    md += test_noise_table(
        test_set_noise(rows, rcfg.baseline, resamples, confidence, boot_seed), confidence, resamples
    )
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
    print_summary(summary, confidence)  # last, so a run's output ends with the table
    return md


def _cell(v):
    return v if isinstance(v, str | int | float) or v is None else str(v)


def link_main_plot() -> str:
    return "![Paired differences: style effect and controls, with their intervals](report.png)\n"
