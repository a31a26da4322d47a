"""Multi-layer perceptron: Linear -> [BatchNorm | LayerNorm] -> activation -> [Dropout] per hidden layer, then a
Linear head."""

from __future__ import annotations

import math

import torch
from torch import nn

from nnml.errors import NnmlError, bad_choice
from nnml.models.activations import build_activation

INITS = {
    "default": None,  # PyTorch's own (Kaiming-uniform with a=sqrt(5))
    "kaiming_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
    "kaiming_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "xavier_uniform": nn.init.xavier_uniform_,
    "xavier_normal": nn.init.xavier_normal_,
    "orthogonal": nn.init.orthogonal_,
    "zeros": nn.init.zeros_,
}


class MLP(nn.Sequential):
    """``hidden`` sizes, activation by catalogue name (``nnml lab activations`` lists them), optional batch norm
    or layer norm and dropout, weight init by name. Input and output sizes come from the dataset."""

    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, hidden=(128,), activation: str = "relu",
                 dropout: float = 0.0, batch_norm: bool = False, init: str = "default", layer_norm: bool = False):
        if init not in INITS:
            raise bad_choice("model.init", init, INITS)
        if batch_norm and layer_norm:
            raise NnmlError("model.batch_norm=true and model.layer_norm=true is not valid; choose one of them")
        if isinstance(hidden, int):
            hidden = [hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for h in hidden:
            layers.append(nn.Linear(width, int(h)))
            if batch_norm:
                layers.append(nn.BatchNorm1d(int(h)))
            if layer_norm:
                layers.append(nn.LayerNorm(int(h)))
            layers.append(build_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = int(h)
        layers.append(nn.Linear(width, num_outputs))
        super().__init__(*layers)
        if INITS[init] is not None:
            with torch.no_grad():
                for m in self.modules():
                    if isinstance(m, nn.Linear):
                        INITS[init](m.weight)
                        nn.init.zeros_(m.bias)
