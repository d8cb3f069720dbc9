"""Train one class's Johnson stylizer (or a sweep of them)."""

from stylaug.train_stylizer.stage import train_stylizer

__all__ = ["train_stylizer"]
