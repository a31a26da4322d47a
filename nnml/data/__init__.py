"""Datasets: each builder returns a :class:`~nnml.data.base.DataSplits` with standardized train/val/test tensors
and tells the model its input shape, number of outputs and task kind."""

from nnml.data.base import DataSplits

__all__ = ["DataSplits"]
