"""ScratchMLP: a multilayer perceptron whose gradients come from the hand-written backward passes.

The forward and backward passes are those of :mod:`nnml.lab.layers`; a ``torch.autograd.Function``
hands them to autograd, so that the runner's ``loss.backward()``, torch optimizers and
``state_dict`` checkpoints work on it unchanged while no gradient of the network itself is
computed by autograd. Run it with ``nnml train model=scratch_mlp``.

The layer building blocks are re-exported here so that ``nnml.lab.backprop`` is the one place
to look for "backprop from scratch".
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from nnml.lab.layers import Activation, Layer, Linear, PReLU, Sequential, activation_layer
from nnml.lab.losses import MSELoss, SoftmaxCrossEntropy
from nnml.models.activations import get_activation

__all__ = [
    "Activation", "Layer", "Linear", "PReLU", "Sequential", "MSELoss", "SoftmaxCrossEntropy",
    "ScratchMLP", "build_scratch_mlp",
]


def build_scratch_mlp(weights: list[Tensor], biases: list[Tensor], activation: str,
                      slopes: list[Tensor] | None = None) -> Sequential:
    """Linear, activation, Linear, ..., Linear (no activation after the last): the scratch network."""
    layers: list[Layer] = []
    for i, (w, b) in enumerate(zip(weights, biases)):
        layers.append(Linear(w, b))
        if i < len(weights) - 1:
            layers.append(activation_layer(activation, slopes[i] if slopes else None))
    return Sequential(*layers)


class _ScratchMLPFunction(torch.autograd.Function):
    """Autograd sees one operation; its backward is the scratch network's own backward pass."""

    @staticmethod
    def forward(ctx, x, activation, n_layers, *params):
        weights, biases = params[:n_layers], params[n_layers:2 * n_layers]
        slopes = list(params[2 * n_layers:]) or None
        # A fresh Sequential per call keeps each call's cached inputs apart (two forwards before one backward).
        ctx.net = build_scratch_mlp(list(weights), list(biases), activation, slopes)
        # The net lists its parameters layer by layer; autograd wants them back in the order passed in.
        position = {id(p): i for i, p in enumerate(ctx.net.parameters())}
        ctx.order = [position[id(p)] for p in params]
        return ctx.net.forward(x)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        # ctx (and the activations cached in ctx.net) is freed with the graph; keeping it until then
        # lets backward run again on a retained graph.
        grad_x = ctx.net.backward(grad_out.contiguous())
        grads = ctx.net.grads
        return (grad_x, None, None, *(grads[i] for i in ctx.order))


class ScratchMLP(nn.Module):
    """An MLP trained through hand-written backprop: flatten, then hidden Linear+activation layers, then Linear.

    Parameters are initialised like ``torch.nn.Linear`` (uniform in +-1/sqrt(fan_in)); prelu gets one
    learned slope per hidden layer, starting at 0.25, as ``torch.nn.PReLU()``.
    """

    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, hidden: list[int] = [128],  # noqa: B006
                 activation: str = "relu"):
        super().__init__()
        get_activation(activation)  # refuse unknown names now, not at the first forward
        self.activation = activation
        sizes = [math.prod(input_shape), *list(hidden), num_outputs]
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(fan_out, fan_in).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(fan_out).uniform_(-bound, bound)))
        self.slopes = nn.ParameterList(
            [nn.Parameter(torch.full((1,), 0.25)) for _ in hidden] if activation == "prelu" else []
        )

    def forward(self, x: Tensor) -> Tensor:
        params = [*self.weights, *self.biases, *self.slopes]
        return _ScratchMLPFunction.apply(x.flatten(1), self.activation, len(self.weights), *params)

    def extra_repr(self) -> str:
        sizes = [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]
        return f"sizes={sizes}, activation={self.activation}"
