"""Kinds of learning: one module per task (supervised, segmentation, seq2seq, ...). See :mod:`nnml.tasks.base`."""
