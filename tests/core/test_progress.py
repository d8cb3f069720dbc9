"""Progress over the whole run: log lines with an estimate when the output is a file, one bar
over all steps in a terminal (Lightning's own read ``Epoch 0/-2`` and wrote nothing to a file)."""

import logging
import re
import sys

from stylaug.core import progress
from stylaug.core.progress import RunProgress, duration
from stylaug.train_stylizer.stage import train_stylizer
from tests.train_stylizer.test_train_stylizer import stylizer_cfg


def test_a_line_says_where_the_run_is_and_when_it_ends():
    p = RunProgress("stylizer ocean/ab12")
    p.start_done, p.total, p.unit = 0, 2500, "step"
    assert p.line(120, 35.0) == (
        "stylizer ocean/ab12: step 120 of 2500 (4.8%), 35 s so far, about 11 min 34 s left "
        "(12 min 09 s in all)"
    )
    assert duration(7600) == "2 h 06 min"


def test_train_stylizer_logs_its_progress_over_the_whole_run_to_a_file(
    tiny_root, tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(progress, "EVERY_S", 0.0)  # a line every step
    cfg = stylizer_cfg(tiny_root, tmp_path / "s", "class=ocean", "stylizer.max_steps=4")
    with caplog.at_level(logging.INFO):
        train_stylizer(cfg)
    lines = [r.getMessage() for r in caplog.records if r.name == "stylaug.core.progress"]
    assert re.match(r"stylizer ocean/\w+: starting at step 0 of 4$", lines[0])
    assert re.match(
        r"stylizer ocean/\w+: step 1 of 4 \(25\.0%\), .* so far, about .* left", lines[1]
    )
    assert lines[-1].split(": ", 1)[1].startswith("step 4 of 4 (100.0%)")


def test_in_a_terminal_one_bar_counts_every_step_of_the_run(tiny_root, tmp_path, monkeypatch):
    bars = []
    real = progress.tqdm

    def record(*args, **kwargs):
        bars.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(progress, "tqdm", record)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    cfg = stylizer_cfg(tiny_root, tmp_path / "s", "class=ocean", "stylizer.max_steps=6",
                       "trainer.enable_progress_bar=true")  # fmt: skip
    train_stylizer(cfg)
    assert [(b["total"], b["initial"]) for b in bars] == [(6, 0)]
