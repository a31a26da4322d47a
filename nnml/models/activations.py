"""The activation catalogue shared by the models and the lecture lab (minimal first version)."""

from __future__ import annotations

from torch import nn

from nnml.errors import bad_choice

_MODULES = {
    "identity": nn.Identity,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}

NAMES = tuple(_MODULES)


def build_activation(name: str) -> nn.Module:
    """A fresh module for the catalogue entry ``name``; a clear error naming the valid ones otherwise."""
    if name not in _MODULES:
        raise bad_choice("model.activation", name, _MODULES)
    return _MODULES[name]()
