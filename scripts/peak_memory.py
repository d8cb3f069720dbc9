"""Peak resident memory of *this* process, for the benchmark scripts.

``getrusage().ru_maxrss`` is the wrong tool in a benchmark child process: on Linux it survives
fork and execve, so a child started by a big parent (scripts/bench.py after the 256 px stylizer
run) reports the parent's peak. ``VmHWM`` belongs to the process's own address space, and
writing 5 to ``/proc/self/clear_refs`` resets it, so one phase can be measured on its own.
"""

from __future__ import annotations

import resource
from pathlib import Path


def reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # not Linux: peak_rss_mb falls back to ru_maxrss
        pass


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
