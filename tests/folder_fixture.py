"""Test access to ``scripts/make_photo_folder.py`` (scripts/ is not a package): small image-folder
datasets of real photos, as a user's own data would be laid out."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_photo_folder.py"

_spec = importlib.util.spec_from_file_location("make_photo_folder", SCRIPT)
photo_folder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(photo_folder)

make_folder = photo_folder.make_folder
class_names = photo_folder.class_names
