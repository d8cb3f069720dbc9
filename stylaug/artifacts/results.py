"""The results row: what ``classify`` appends to ``results/results.jsonl`` and ``report`` reads.

One JSON object per (setup, scenario, seed, arm), with its per-test-image predictions so the report
can pair arms image by image. The names a row uses for its arms and corruptions are defined here,
so the report reads them without asking the classifier.
"""

from __future__ import annotations

from pathlib import Path

from stylaug.core.commands import command_line
from stylaug.core.io import append_jsonl, read_jsonl

TRADITIONAL_ARMS = ("flip_crop_jitter", "randaugment")
# ImageNet-C's 15 corruptions in its four families (the benchmark's own grouping and order)
CORRUPTION_FAMILIES = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}


def append_result(results_file: str | Path, row: dict) -> None:
    append_jsonl(results_file, row)


def load_results(results_file: str | Path) -> list[dict]:
    rows = read_jsonl(results_file)
    if not rows:
        sweep = ["-m", "scenario=balanced,biased_case1,biased_case2,scarce", "seed=0,1,2"]
        raise FileNotFoundError(
            f"no classify results in {results_file}. Run classify first, e.g. "
            f"`{command_line('classify', sweep)}`"
        )
    return rows
