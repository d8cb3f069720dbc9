"""Stylize training images with the stylizer of their class, scenario and seed."""

from stylaug.augment.stage import augment

__all__ = ["augment"]
