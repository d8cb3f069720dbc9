"""Aggregate every result row into the report's tables and plots."""

from stylaug.report.stage import report

__all__ = ["report"]
