"""Stylize arbitrary images (Johnson checkpoint or Gatys optimisation)."""

from stylaug.stylize.stage import stylize

__all__ = ["stylize"]
