"""Where the configs are: one absolute path, so an installed (non-editable) stylaug finds them too."""

from __future__ import annotations

from pathlib import Path

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")
