"""OmegaConf resolvers the configs use; registered when ``stylaug`` is imported.

``${stylaug.set_tag:FAMILY,ALPHA,POOL}`` names a stylized set after what made it, so sets of several
families, strengths and style pools coexist under ``data/augmented/<dataset>/``: the family name,
then the style pool where it is not the family's default, then ``_a<alpha>`` where alpha is not 1.
The paper's set (``johnson`` at alpha 1) keeps its old name, ``johnson``.
"""

from __future__ import annotations

import re

from omegaconf import OmegaConf

FAMILIES = ("johnson", "johnson_color", "johnson_cross", "adain", "randomized", "photoreal")
POOL_FAMILIES = ("adain", "randomized", "photoreal")  # families that draw style images from a pool
DEFAULT_POOL = "same_class"


def pool_name(pool: str) -> str:
    """A style pool as a folder-name part: same_class, all_classes, folder-<name>."""
    pool = str(pool)
    if pool.startswith("folder="):
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", pool[len("folder=") :].rstrip("/").split("/")[-1])
        return f"folder-{name or 'root'}"
    return pool


def set_tag(family: str, alpha, pool: str) -> str:
    tag = str(family)
    if family in POOL_FAMILIES and str(pool) != DEFAULT_POOL:
        tag += f"_{pool_name(pool)}"
    if float(alpha) != 1.0:
        tag += f"_a{float(alpha):g}"
    return tag


def register() -> None:
    OmegaConf.register_new_resolver("stylaug.set_tag", set_tag, replace=True)
