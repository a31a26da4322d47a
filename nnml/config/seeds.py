"""Which seed does what. ``seed`` draws the initial weights, the batch order, dropout masks and augmentations: the
training randomness, which replicates vary (``nnml train -m seed=0,1,2,3,4``). ``data_seed`` draws the train/val/test
split and any generated data: it stays fixed across replicates, so they share one validation and test set and a
paired comparison between them is possible. A config from before ``data_seed`` existed (a run folder of nnml
0.1.0) has only ``seed``, which then drew both."""

from __future__ import annotations


def data_seed(cfg) -> int:
    """The seed of the data split: ``data_seed``, or ``seed`` for configs that have none."""
    value = cfg.get("data_seed")
    return int(cfg.seed if value is None else value)
