"""A small LeNet-style convolutional net for image data (digits 8x8, MNIST 28x28)."""

from __future__ import annotations

import torch
from torch import nn

from nnml.errors import NnmlError
from nnml.models.activations import build_activation


class CNN(nn.Module):
    """Two conv blocks (conv 3x3 -> activation -> 2x2 max-pool) and an MLP head; the head's input size is found by
    running a dummy image through the features, so any image size of at least 4x4 works."""

    def __init__(self, input_shape: tuple[int, ...], num_outputs: int, channels=(16, 32), hidden: int = 128,
                 activation: str = "relu", dropout: float = 0.0):
        super().__init__()
        if len(input_shape) != 3:
            raise NnmlError(f"model=cnn needs image data of shape (channels, height, width); this dataset gives "
                            f"input_shape={tuple(input_shape)}: use model=mlp, or dataset=digits/mnist/fashion_mnist")
        blocks: list[nn.Module] = []
        c_in = input_shape[0]
        for c in channels:
            blocks += [nn.Conv2d(c_in, int(c), 3, padding=1), build_activation(activation), nn.MaxPool2d(2)]
            c_in = int(c)
        self.features = nn.Sequential(*blocks)
        with torch.no_grad():
            n = self.features(torch.zeros(1, *input_shape)).numel()
        head: list[nn.Module] = [nn.Flatten(), nn.Linear(n, hidden), build_activation(activation)]
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(hidden, num_outputs))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
