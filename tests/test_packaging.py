"""An installed (non-editable) stylaug must find its configs: they travel inside the package."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from stylaug.core.config import CONFIG_DIR

REPO = Path(__file__).resolve().parents[1]
PRIMARY = ["pipeline", "prepare_data", "train_stylizer", "train_decoder", "augment", "classify",
           "report", "stylize"]  # fmt: skip


def test_config_dir_is_inside_the_package_and_absolute():
    path = Path(CONFIG_DIR)
    assert path.is_absolute()
    assert path.parent == REPO / "stylaug"
    assert all((path / f"{name}.yaml").is_file() for name in PRIMARY)


def test_the_wheel_carries_every_config(tmp_path):
    src = tmp_path / "src"  # a copy: building leaves build/ and *.egg-info behind
    shutil.copytree(REPO / "stylaug", src / "stylaug", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(src)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("stylaug-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    on_disk = {str(p.relative_to(REPO)) for p in (REPO / "stylaug" / "conf").rglob("*.yaml")}
    assert on_disk, "no configs found"
    assert on_disk <= names, f"configs missing from the wheel: {sorted(on_disk - names)[:5]}"
