"""GAN networks: a generator (noise [+ class] -> data) and a discriminator or critic (data [+ class] -> one
score), each an MLP or DCGAN-style convolutional net (``arch``). Sizes come from the data: ``input_shape``, the
number of classes (``num_outputs``) and, where pixels lie in a fixed range, ``value_range``."""

from __future__ import annotations

import torch
from torch import nn

from nnml.tasks.generative.nets import Down, Up, one_hot, squash


class Generator(nn.Module):
    """z ~ N(0, I) of ``latent_dim`` (concatenated with the one-hot class when ``conditional``) -> a sample."""

    def __init__(self, input_shape, num_outputs: int = 0, latent_dim: int = 32, arch: str = "mlp",
                 hidden=(256, 256), channels=(64, 32), batch_norm: bool = False, conditional: bool = False,
                 value_range=None):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.num_classes = int(num_outputs) if conditional else 0
        self.value_range = list(value_range) if value_range is not None else None
        self.net = Up(self.latent_dim + self.num_classes, input_shape, arch, hidden, channels, "relu", batch_norm,
                      who="model.generator")

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            z = torch.cat([z, one_hot(y, self.num_classes, z)], 1)
        return squash(self.net(z), self.value_range)


class Discriminator(nn.Module):
    """A sample -> one real-valued score (a logit for the non-saturating loss, a critic value for WGAN-GP and
    hinge). No batch norm: the gradient penalty is per sample. Conditional on the class by projection
    (Miyato & Koyama 2018): score = w.h + embed(y).h."""

    def __init__(self, input_shape, num_outputs: int = 0, arch: str = "mlp", hidden=(256, 256),
                 channels=(32, 64), conditional: bool = False, dropout: float = 0.0):
        super().__init__()
        self.body = Down(input_shape, arch, hidden, channels, "leaky_relu", who="model.discriminator",
                         dropout=dropout)
        self.head = nn.Linear(self.body.out_dim, 1)
        self.embed = nn.Embedding(int(num_outputs), self.body.out_dim) if conditional else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x)
        out = self.head(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(1)
        return out
