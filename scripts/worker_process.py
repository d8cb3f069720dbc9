"""Run a benchmark script's ``--worker`` part in a fresh process and read back its figures.

A fresh process per measurement keeps one run's caches, allocator state and peak RSS out of the
next; the worker prints its figures as JSON on its last stdout line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_worker(script: str | Path, overrides: list[str]) -> dict:
    """``python SCRIPT --worker OVERRIDES...`` from the repository root, wandb off."""
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, str(script), "--worker", *overrides],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    if out.returncode:
        raise RuntimeError(f"benchmark worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
