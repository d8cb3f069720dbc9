"""Stopping on SIGTERM or SIGINT at a safe point, saying where, and exiting non-zero.

A scheduler sends SIGTERM before it pre-empts a job (SLURM, Kubernetes); a user presses Ctrl+C
(SIGINT). Left to Lightning, SIGTERM ends a fit with ``SystemExit(None)`` - status 0, as if the run
had finished - and Ctrl+C lands wherever it lands, an optimizer step included, then exits 1.

Inside ``stop_signals()`` both signals are only noted. ``StopAtStepEnd`` (a callback of every
trainer ``make_trainer`` builds) raises ``Interrupted`` at the end of the training step or predict
batch in progress, where the state is whole: ``AtomicCheckpoint`` saves ``last.ckpt`` at that
step, the log says "interrupted at step N of M ...; rerun the same command to resume", and the
process exits with 128 + the signal's number (143 for SIGTERM, 130 for SIGINT, what a shell reports
for a process the signal ended). A second Ctrl+C stops at once. Outside these blocks, in a command
(``exit_on_stop_signals``), SIGTERM raises where it lands, as Ctrl+C does: writes in progress clean
up, and the command exits 143 or 130 with the same line.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

import pytorch_lightning as pl

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_noted: list[int] = []  # stop signals received inside stop_signals(), first first


class Interrupted(SystemExit):
    """A run stopped by a signal at a safe point; its exit status is 128 + the signal number."""

    def __init__(self, signum: int, message: str):
        super().__init__(128 + int(signum))
        self.signum, self.message = int(signum), message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # crosses process pools (train_many) intact
        return (Interrupted, (self.signum, self.message))


def received() -> int | None:
    """The first stop signal noted in the current ``stop_signals`` block, if any."""
    return _noted[0] if _noted else None


def _note(signum, frame) -> None:
    if _noted and signum == signal.SIGINT:  # Ctrl+C twice: now
        raise KeyboardInterrupt
    if not _noted:
        log.warning(
            "%s received: stopping at the end of the current step (Ctrl+C again stops at once)",
            signal.Signals(signum).name,
        )
    _noted.append(int(signum))


@contextlib.contextmanager
def stop_signals(what: str) -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT are noted for ``StopAtStepEnd``; an ``Interrupted``
    leaving it is logged as ``what`` interrupted. Outside the main thread it changes nothing
    (signal handlers live there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    _noted.clear()
    for s in STOP_SIGNALS:
        signal.signal(s, _note)
    try:
        yield
        if _noted:  # it came after the last step: the work is done, the request still stands
            raise Interrupted(_noted[0], "stopped after its last step")
    except Interrupted as err:
        raise _said(err.signum, f"{what} {err.message}") from None
    except SystemExit:  # Lightning's own SIGTERM exit, which would report success
        if _noted:
            raise _said(_noted[0], f"{what} stopped") from None
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _noted.clear()


def _said(signum: int, message: str) -> Interrupted:
    full = f"{message} ({signal.Signals(signum).name}); rerun the same command to resume"
    log.error(full)
    err = Interrupted(signum, full)
    err.said = True
    return err


def _raise_interrupted(signum, frame) -> None:
    raise Interrupted(signum, "interrupted")


@contextlib.contextmanager
def exit_on_stop_signals(what: str) -> Iterator[None]:
    """Around a whole command: SIGTERM anywhere raises ``Interrupted`` (as Ctrl+C raises
    KeyboardInterrupt), so ``finally`` blocks run - a write in progress removes its temp file -
    and the command exits 143 (130 for Ctrl+C) with the line saying so, not silently by the
    signal. ``stop_signals`` blocks inside stop at a step end instead."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    except Interrupted as err:
        if getattr(err, "said", False):
            raise
        raise _said(err.signum, f"{what} interrupted") from None
    except KeyboardInterrupt:
        raise _said(signal.SIGINT, f"{what} interrupted") from None
    finally:
        signal.signal(signal.SIGTERM, previous)


class StopAtStepEnd(pl.Callback):
    """Raise ``Interrupted`` at the end of the step (fit) or batch (predict) in which a stop signal
    was noted; every process of a multi-process run stops at the same step."""

    def on_train_batch_end(self, trainer: pl.Trainer, *args) -> None:
        if trainer.strategy.reduce_boolean_decision(received() is not None, all=False):
            total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else "?"
            raise Interrupted(received() or signal.SIGTERM,
                              f"interrupted at step {trainer.global_step} of {total}")  # fmt: skip

    def on_predict_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx,
                             dataloader_idx: int = 0) -> None:  # fmt: skip
        if received() is not None:
            total = sum(trainer.num_predict_batches)
            raise Interrupted(received(), f"interrupted after batch {batch_idx + 1} of {total}")
