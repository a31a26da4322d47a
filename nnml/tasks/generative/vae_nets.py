"""The VAE network (Kingma & Welling 2014): an encoder to a diagonal Gaussian q(z|x) and a decoder to the
parameters of p(x|z), each an MLP or a small convolutional net; both also see the one-hot class when
``conditional`` (a conditional VAE, Sohn et al. 2015)."""

from __future__ import annotations

import math

import torch
from torch import nn

from nnml.errors import bad_choice
from nnml.tasks.generative.nets import Down, Up, one_hot

LIKELIHOODS = ("bernoulli", "gaussian")


class VAE(nn.Module):
    """``encode(x, y) -> (mu, logvar)``, ``decode(z, y) -> logits`` (Bernoulli) or means (Gaussian, with one
    learned scale ``log_sigma`` shared by all values)."""

    def __init__(self, input_shape, num_outputs: int = 0, latent_dim: int = 8, arch: str = "mlp",
                 hidden=(256,), channels=(32, 64), conditional: bool = False, likelihood: str = "bernoulli"):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise bad_choice("task.likelihood", likelihood, LIKELIHOODS)
        self.input_shape = tuple(input_shape)
        self.latent_dim = int(latent_dim)
        self.num_classes = int(num_outputs) if conditional else 0
        self.likelihood = likelihood
        self.encoder = Down(input_shape, arch, hidden, channels, "relu", who="model")
        self.to_stats = nn.Linear(self.encoder.out_dim + self.num_classes, 2 * self.latent_dim)
        hid = list(reversed([hidden] if isinstance(hidden, int) else list(hidden)))
        self.decoder = Up(self.latent_dim + self.num_classes, input_shape, arch, hid, list(reversed(channels)),
                          "relu", who="model")
        if likelihood == "gaussian":
            self.log_sigma = nn.Parameter(torch.zeros(()))

    def _cond(self, h, y):
        return torch.cat([h, one_hot(y, self.num_classes, h)], 1) if self.num_classes else h

    def encode(self, x, y=None):
        mu, logvar = self.to_stats(self._cond(self.encoder(x), y)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z, y=None):
        return self.decoder(self._cond(z, y))

    def forward(self, x, y=None):
        """The decoder's output at the posterior mean (a deterministic reconstruction; logits for Bernoulli)."""
        if self.num_classes and y is None:
            y = torch.zeros(len(x), dtype=torch.long, device=x.device)
        return self.decode(self.encode(x, y)[0], y)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """The mean of p(x|z) from the decoder's output (what samples and reconstructions show)."""
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def log_likelihood(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per sample, summed over the data's dimensions (nats)."""
        n = len(x)
        if self.likelihood == "bernoulli":
            ll = -nn.functional.binary_cross_entropy_with_logits(out, x, reduction="none")
        else:
            # One scale for every value; floored so that constant pixels cannot drive it to -inf.
            log_s = self.log_sigma.clamp(min=-5.0)
            ll = -0.5 * ((x - out) / log_s.exp()) ** 2 - log_s - 0.5 * math.log(2 * math.pi)
        return ll.reshape(n, -1).sum(1)
