"""Test access to ``scripts/make_places365_fixture.py`` (scripts/ is not a package)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "make_places365_fixture.py"

_spec = importlib.util.spec_from_file_location("make_places365_fixture", SCRIPT)
fixture_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture_script)

# What the script plants (relative to places365_standard/) and what prepare_data must make of it.
BAD = {
    "train/ocean/bad_zero_byte.jpg": "empty",
    "train/ocean/bad_truncated.jpg": "truncated",
    "train/ocean/bad_not_an_image.jpg": "not an image",
    "train/desert-sand/bad_truncated.png": "truncated",
    "val/skyscraper/bad_zero_byte.jpg": "empty",
}
ODD = [
    "train/ocean/odd_cmyk.jpg",
    "train/ocean/odd_16bit_rgb.png",
    "train/ocean/odd_16bit_gray.png",
    "train/ocean/odd_palette_alpha.png",
    "train/ocean/odd_exif_rotated.jpg",
    "train/ocean/odd_1x4000.png",
    "train/ocean/odd_12000x12000.jpg",
    "train/hot_spring/odd_rgba.png",
]


def repo_env() -> dict:
    """Subprocess environment that imports this checkout's stylaug, whatever the cwd."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(REPO) + (os.pathsep + path if path else "")}


def run_script(path: Path, *args: str) -> str:
    """Run the fixture script as a user would (its 12000 px image costs ~0.7 GB, in the child)."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(path), *args],
        cwd=REPO,
        env=repo_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
