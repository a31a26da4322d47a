"""Linear model: logistic regression (with cross-entropy) or linear regression (with MSE), y = W x + b."""

from __future__ import annotations

import math

from torch import nn


class LinearModel(nn.Sequential):
    """Flatten the input and apply one affine map; sizes come from the dataset."""

    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, bias: bool = True):
        super().__init__(nn.Flatten(), nn.Linear(math.prod(input_shape), num_outputs, bias=bias))
