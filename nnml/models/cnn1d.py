"""A 1-D convolutional net for sequences of features ``(channels, length)``: MNIST-1D and other signals.

The default is the MNIST-1D paper's ConvBase (Greydanus and Kobak 2024, ``notebooks/models.py`` of their
repository): three convolutions of 25 channels (kernel 5, then 3 and 3; stride 2, padding 1), ReLU after each, the
flattened features into one linear layer. On length 40 that is 25 x 5 = 125 features and 5,210 parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from nnml.errors import NnmlError
from nnml.models.activations import build_activation


class CNN1D(nn.Module):
    """Conv1d blocks (conv -> [batch norm | layer norm] -> activation -> [dropout]), flatten, optional hidden
    layers (``hidden``: an MLP head), linear head. The head's input size is found by running a dummy sequence
    through the features."""

    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, channels=(25, 25, 25), kernel_sizes=(5, 3, 3),
                 stride: int = 2, padding: int = 1, hidden=(), activation: str = "relu", dropout: float = 0.0,
                 batch_norm: bool = False, layer_norm: bool = False):
        super().__init__()
        if len(input_shape) != 2:
            raise NnmlError(f"model=cnn1d needs sequences of shape (channels, length); this dataset gives "
                            f"input_shape={tuple(input_shape)}: use dataset=mnist1d, or model=mlp/cnn")
        channels = [int(c) for c in ([channels] if isinstance(channels, int) else channels)]
        kernels = [int(k) for k in ([kernel_sizes] if isinstance(kernel_sizes, int) else kernel_sizes)]
        if len(kernels) == 1:
            kernels = kernels * len(channels)
        if len(kernels) != len(channels):
            raise NnmlError(f"model.kernel_sizes={kernels} is not valid; give one size, or one per layer of "
                            f"model.channels={channels}")
        if batch_norm and layer_norm:
            raise NnmlError("model.batch_norm=true and model.layer_norm=true is not valid; choose one of them")
        blocks: list[nn.Module] = []
        c_in = int(input_shape[0])
        for c, k in zip(channels, kernels):
            blocks.append(nn.Conv1d(c_in, c, k, stride=int(stride), padding=int(padding)))
            if batch_norm:
                blocks.append(nn.BatchNorm1d(c))
            if layer_norm:  # one group: normalizes each sample over all channels and positions
                blocks.append(nn.GroupNorm(1, c))
            blocks.append(build_activation(activation))
            if dropout > 0:
                blocks.append(nn.Dropout(dropout))
            c_in = c
        self.features = nn.Sequential(*blocks)
        with torch.no_grad():
            out = self.features(torch.zeros(1, *input_shape))
        if out.shape[-1] < 1:
            raise NnmlError(f"model=cnn1d: input length {input_shape[-1]} is too short for {len(channels)} "
                            f"layers of stride {stride}; use fewer model.channels or model.stride=1")
        head: list[nn.Module] = [nn.Flatten()]
        width = out.numel()
        for h in [hidden] if isinstance(hidden, int) else hidden:
            head += [nn.Linear(width, int(h)), build_activation(activation)]
            if dropout > 0:
                head.append(nn.Dropout(dropout))
            width = int(h)
        head.append(nn.Linear(width, num_outputs))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
