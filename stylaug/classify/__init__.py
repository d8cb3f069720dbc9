"""Train and test the classifier's arms of one scenario and seed."""

from stylaug.classify.stage import classify

__all__ = ["classify"]
