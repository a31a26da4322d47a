"""Kinds of learning, one folder each (supervised, segmentation, text, generative, representation, recsys, distill),
on the Task interface of :mod:`nnml.tasks.base` and the optional protocols of :mod:`nnml.tasks.capabilities`."""
