"""Building blocks shared by the VAE and GAN networks: a body that maps data to a feature vector (``Down``: an MLP
or strided convolutions) and one that maps a vector to data (``Up``: an MLP or DCGAN-style transposed
convolutions), plus the output squashing that puts generated values in the data's range."""

from __future__ import annotations

import math

import torch
from torch import nn

from nnml.errors import NnmlError, bad_choice

ARCHS = ("mlp", "conv")


def _act(kind: str) -> nn.Module:
    return nn.LeakyReLU(0.2) if kind == "leaky_relu" else nn.ReLU()


def _conv_plan(shape, channels, who: str) -> tuple[int, int]:
    if len(shape) != 3:
        raise NnmlError(f"{who}.arch=conv needs image data of shape (channels, height, width); this dataset gives "
                        f"{tuple(shape)}: use {who}.arch=mlp")
    scale = 2 ** len(channels)
    if shape[1] % scale or shape[2] % scale:
        raise NnmlError(f"{who}.channels={list(channels)} halves {shape[1]}x{shape[2]} images {len(channels)} times, "
                        f"which needs sides divisible by {scale}; use fewer channel entries")
    return shape[1] // scale, shape[2] // scale


class Down(nn.Module):
    """Data (a flat vector or a C x H x W image) -> a feature vector of ``out_dim``. ``mlp``: Linear layers of
    ``hidden``; ``conv``: 4x4 stride-2 convolutions of ``channels``, each halving the image."""

    def __init__(self, input_shape, arch="mlp", hidden=(256,), channels=(32, 64), activation="leaky_relu",
                 who: str = "model", dropout: float = 0.0):
        super().__init__()
        if arch not in ARCHS:
            raise bad_choice(f"{who}.arch", arch, ARCHS)
        layers: list[nn.Module] = []
        if arch == "mlp":
            width = math.prod(input_shape)
            layers.append(nn.Flatten())
            for h in ([hidden] if isinstance(hidden, int) else hidden):
                layers += [nn.Linear(width, int(h)), _act(activation)]
                if dropout:
                    layers.append(nn.Dropout(dropout))
                width = int(h)
        else:
            h, w = _conv_plan(input_shape, channels, who)
            c = input_shape[0]
            for c_out in channels:
                layers += [nn.Conv2d(c, int(c_out), 4, 2, 1), _act(activation)]
                c = int(c_out)
            layers.append(nn.Flatten())
            width = c * h * w
        self.body = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, x):
        return self.body(x)


class Up(nn.Module):
    """A vector of ``in_dim`` -> data of ``output_shape`` (unsquashed). ``mlp``: Linear layers of ``hidden``;
    ``conv``: a Linear to ``channels[0]`` maps of 1/2^k the image side, then 4x4 stride-2 transposed
    convolutions, each doubling it (DCGAN, Radford et al. 2016), batch norm between them if asked."""

    def __init__(self, in_dim: int, output_shape, arch="mlp", hidden=(256,), channels=(64, 32), activation="relu",
                 batch_norm: bool = False, who: str = "model"):
        super().__init__()
        if arch not in ARCHS:
            raise bad_choice(f"{who}.arch", arch, ARCHS)
        self.output_shape = tuple(output_shape)
        layers: list[nn.Module] = []
        if arch == "mlp":
            width = in_dim
            for h in ([hidden] if isinstance(hidden, int) else hidden):
                layers.append(nn.Linear(width, int(h)))
                if batch_norm:
                    layers.append(nn.BatchNorm1d(int(h)))
                layers.append(_act(activation))
                width = int(h)
            layers.append(nn.Linear(width, math.prod(output_shape)))
        else:
            h, w = _conv_plan(output_shape, channels, who)
            c = int(channels[0])
            layers += [nn.Linear(in_dim, c * h * w), nn.Unflatten(1, (c, h, w))]
            if batch_norm:
                layers.append(nn.BatchNorm2d(c))
            layers.append(_act(activation))
            outs = [int(k) for k in channels[1:]] + [output_shape[0]]
            for i, c_out in enumerate(outs):
                layers.append(nn.ConvTranspose2d(c, c_out, 4, 2, 1))
                if i < len(outs) - 1:
                    if batch_norm:
                        layers.append(nn.BatchNorm2d(c_out))
                    layers.append(_act(activation))
                c = c_out
        self.body = nn.Sequential(*layers)

    def forward(self, v):
        return self.body(v).view(len(v), *self.output_shape)


def squash(out: torch.Tensor, value_range) -> torch.Tensor:
    """Generated values into the data's range: a sigmoid scaled to ``value_range`` (e.g. [0, 1] pixels), or
    unchanged for data without bounds (standardized pixels, 2-D points)."""
    if value_range is None:
        return out
    lo, hi = float(value_range[0]), float(value_range[1])
    return lo + (hi - lo) * torch.sigmoid(out)


def one_hot(y, num_classes: int, like: torch.Tensor) -> torch.Tensor:
    return nn.functional.one_hot(y.long(), num_classes).to(like.dtype)
