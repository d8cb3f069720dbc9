"""How a dataset and its classes are named where stages meet: folders, rows and commands.

A folder dataset is named after its source folder (``folder:<name>``, conf/dataset/folder.yaml's
``${stylaug.folder_name:${dataset.source}}``), so two of them never share ``data/<name>/`` or
``artifacts/stylizers/<name>/``, and no row of one is ever labelled as another dataset. Class names
are folder names, so they may hold spaces, commas or digits only: every command line stylaug builds
or prints quotes them for Hydra.
"""

from __future__ import annotations

import re

from omegaconf import OmegaConf

from stylaug.data.folder import dataset_name
from stylaug.data.index import DatasetIndex


def register() -> None:
    """``${stylaug.folder_name:PATH}`` in the configs: ``folder:<name of PATH>``."""
    OmegaConf.register_new_resolver("stylaug.folder_name", dataset_name, replace=True)


PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
HYDRA_WORDS = {"null", "true", "false", "nan", "inf"}


def quoted(value) -> str:
    """A value as a Hydra override reads it back as this exact string (``class='1'`` stays the
    string '1', ``class='a b'`` keeps its space); a plain name stays bare (``class=ocean``)."""
    text = str(value)
    if PLAIN.fullmatch(text) and text.lower() not in HYDRA_WORDS:
        return text
    text = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def class_override(classes) -> str:
    """``class=<one>`` or ``class=<a>,<b>,...`` (a sweep), every name quoted."""
    names = [classes] if isinstance(classes, str) else list(classes)
    return "class=" + ",".join(quoted(c) for c in names)


def dataset_override(name: str, source=None) -> list[str]:
    """The overrides that select a dataset again: ``dataset=synthetic``, or for a folder dataset
    ``dataset=folder dataset.source=PATH`` (plus its name when it is not the default one)."""
    if source is None:
        return [f"dataset={name}"]
    parts = ["dataset=folder", f"dataset.source={quoted(source)}"]
    if name != dataset_name(source):
        parts.append(f"dataset.name={quoted(name)}")
    return parts


def index_dataset_override(index: DatasetIndex) -> list[str]:
    folder = index.meta.get("layout") == "imagefolder"
    return dataset_override(index.name, index.meta.get("source") if folder else None)
