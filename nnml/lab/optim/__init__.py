"""Optimizers written from their update rules, one per module, each citing its paper.

They are ``torch.optim.Optimizer`` subclasses with torch's keyword names and defaults, so a config
can swap ``torch.optim.Adam`` for ``nnml.lab.optim.Adam`` (``nnml train optimizer=scratch_adam``);
``tests/lab/test_lab_optim.py`` checks that they follow torch's optimizers step for step.
Momentum and Nesterov momentum are options of :class:`SGD`, as in torch.
"""

from nnml.lab.optim.adagrad import Adagrad
from nnml.lab.optim.adam import Adam
from nnml.lab.optim.adamw import AdamW
from nnml.lab.optim.rmsprop import RMSprop
from nnml.lab.optim.sgd import SGD

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"]
