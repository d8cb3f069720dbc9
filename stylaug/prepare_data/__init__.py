"""Write the synthetic dataset, or index a dataset in place."""

from stylaug.prepare_data.stage import prepare_data

__all__ = ["prepare_data"]
