"""Progress that shows where people look: a bar over the whole run in a terminal, and a log line
every few seconds - position, elapsed time, an estimate for the rest and for the whole run -
when the output goes to a file (the usual case on a cluster).

Lightning's own bar counts one epoch (with ``max_epochs=-1`` it reads ``Epoch 0/-2``) and writes
carriage-return updates that a log file does not show; ``make_trainer(progress=...)`` puts this
callback in its place.
"""

from __future__ import annotations

import logging
import math
import sys
import time

import pytorch_lightning as pl
from tqdm import tqdm

log = logging.getLogger(__name__)

EVERY_S = 10.0  # seconds between log lines


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class RunProgress(pl.Callback):
    """The whole run's position (training steps, or predict batches) and when it will end."""

    def __init__(self, what: str, every_s: float | None = None, bar: bool = True):
        self.what, self.every_s = what, EVERY_S if every_s is None else float(every_s)
        self.bar_wanted = bar  # in a terminal; off: nothing there (a log file still gets lines)
        self.bar = None

    def _start(self, trainer: pl.Trainer, done: int, total: int, unit: str) -> None:
        self.start_done, self.total, self.unit = done, max(int(total), done), unit
        self.t0 = self.last = time.monotonic()
        if not trainer.is_global_zero:
            self.total = 0  # one voice per run
        elif sys.stderr.isatty():
            if self.bar_wanted:
                self.bar = tqdm(total=self.total, initial=done, desc=self.what, unit=unit,
                                dynamic_ncols=True, leave=False)  # fmt: skip
        else:
            log.info("%s: starting at %s %d of %d", self.what, unit, done, self.total)

    def _advance(self, done: int) -> None:
        if not self.total:
            return
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            return
        now = time.monotonic()
        if sys.stderr.isatty() or (now - self.last < self.every_s and done < self.total):
            return
        self.last = now
        log.info(self.line(done, now - self.t0))

    def line(self, done: int, elapsed: float) -> str:
        """``stylizer ocean/ab12: step 120 of 2500 (4.8%), 35 s so far, about 11 min 20 s left
        (11 min 55 s in all)``."""
        total, rate = self.total, (done - self.start_done) / elapsed if elapsed > 0 else 0.0
        text = f"{self.what}: {self.unit} {done} of {total} ({100 * done / total:.1f}%), "
        text += f"{duration(elapsed)} so far"
        if rate > 0 and done < total:
            left = (total - done) / rate
            text += f", about {duration(left)} left ({duration(elapsed + left)} in all)"
        return text

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_train_start(self, trainer, pl_module) -> None:
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else 0
        if not total and math.isfinite(trainer.estimated_stepping_batches):
            total = int(trainer.estimated_stepping_batches)
        self._start(trainer, trainer.global_step, total, "step")

    def on_train_batch_end(self, trainer, *args) -> None:
        self._advance(trainer.global_step)

    def on_predict_start(self, trainer, pl_module) -> None:
        self._start(trainer, 0, sum(trainer.num_predict_batches), "batch")

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *args) -> None:
        self._advance(batch_idx + 1)

    def on_train_end(self, trainer, pl_module) -> None:
        self._close()

    on_predict_end = on_train_end

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._close()
