"""Layers with their backward pass written out by hand: the chain rule on whole tensors, no autograd.

Each layer keeps what its backward pass needs from the last ``forward`` call, and ``backward``
takes dL/d(output) and returns dL/d(input), storing the gradients of its own parameters in
``grads`` (same order as ``parameters()``). Names follow PyTorch's so that the mapping is obvious.
Shapes: inputs are (batch, features), as in ``torch.nn.Linear``.

Checked against ``torch.autograd`` in float64 by ``tests/lab/test_lab_layers.py`` and by
``nnml lab gradcheck``.
"""

from __future__ import annotations

from torch import Tensor

from nnml.models.activations import get_activation


class Layer:
    """The interface every scratch layer follows."""

    grads: list[Tensor]

    def parameters(self) -> list[Tensor]:
        return []

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def backward(self, grad_out: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)


class Linear(Layer):
    """y = x W^T + b, with W of shape (out, in) as in torch.nn.Linear."""

    def __init__(self, weight: Tensor, bias: Tensor | None = None):
        self.weight, self.bias = weight, bias
        self.grads = []

    def parameters(self) -> list[Tensor]:
        return [self.weight] + ([self.bias] if self.bias is not None else [])

    def forward(self, x: Tensor) -> Tensor:
        self.x = x  # dL/dW needs the input
        y = x @ self.weight.T
        return y + self.bias if self.bias is not None else y

    def backward(self, grad_out: Tensor) -> Tensor:
        # y_bj = sum_i x_bi W_ji + b_j, so dL/dW_ji = sum_b g_bj x_bi, dL/db_j = sum_b g_bj, dL/dx_bi = sum_j g_bj W_ji
        self.grads = [grad_out.T @ self.x]
        if self.bias is not None:
            self.grads.append(grad_out.sum(0))
        return grad_out @ self.weight


class Activation(Layer):
    """An element-wise catalogue activation: dL/dx = dL/dy * f'(x), f' written by hand in the catalogue.

    binary_step backpropagates its straight-through surrogate (see ``nnml.models.activations.BinaryStep``),
    because its true derivative is zero and would stop all learning.
    """

    def __init__(self, name: str):
        if name == "prelu":
            raise ValueError("prelu has a learned slope: use the PReLU layer")
        self.entry = get_activation(name)
        self.grads = []

    def forward(self, x: Tensor) -> Tensor:
        self.x = x
        return self.entry.fn(x)

    def backward(self, grad_out: Tensor) -> Tensor:
        return grad_out * self.entry.backward_grad(self.x)


class PReLU(Layer):
    """y = x if x > 0 else a x, with one learned slope a (a tensor of shape (1,)) as in torch.nn.PReLU()."""

    def __init__(self, weight: Tensor):
        self.weight = weight
        self.grads = []

    def parameters(self) -> list[Tensor]:
        return [self.weight]

    def forward(self, x: Tensor) -> Tensor:
        self.x = x
        return x.where(x > 0, self.weight * x)

    def backward(self, grad_out: Tensor) -> Tensor:
        negative = self.x <= 0
        # the slope is shared by every element, so its gradient sums over all of them
        self.grads = [(grad_out * self.x * negative).sum().reshape(self.weight.shape)]
        return grad_out.where(~negative, grad_out * self.weight)


class Sequential(Layer):
    """Layers applied in order; backward runs them in reverse (the chain rule, one layer at a time)."""

    def __init__(self, *layers: Layer):
        self.layers = list(layers)

    def parameters(self) -> list[Tensor]:
        return [p for layer in self.layers for p in layer.parameters()]

    @property
    def grads(self) -> list[Tensor]:
        return [g for layer in self.layers for g in layer.grads]

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, grad_out: Tensor) -> Tensor:
        for layer in reversed(self.layers):
            grad_out = layer.backward(grad_out)
        return grad_out


def activation_layer(name: str, prelu_weight: Tensor | None = None) -> Layer:
    """The scratch layer for a catalogue name (PReLU needs its slope tensor)."""
    if name == "prelu":
        if prelu_weight is None:
            raise ValueError("prelu needs its slope tensor")
        return PReLU(prelu_weight)
    return Activation(name)
