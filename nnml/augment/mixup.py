"""Mixup (Zhang, Cisse, Dauphin and Lopez-Paz, "mixup: Beyond Empirical Risk Minimization", ICLR 2018).

A training batch is replaced by convex combinations of pairs of its samples, ``x' = lam x + (1 - lam) x[perm]``,
with one ``lam ~ Beta(alpha, alpha)`` per batch and a random permutation ``perm``; the loss is the same mixture of
the losses against both labels, ``lam L(f(x'), y) + (1 - lam) L(f(x'), y[perm])``, which equals cross-entropy with
the mixed one-hot target and works for any criterion (label smoothing included). Randomness comes from torch's
global RNG on the batch's device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nnml.errors import NnmlError


@dataclass
class MixedBatch:
    """A mixed batch: inputs, the two label sets and the weight of the first."""

    x: torch.Tensor
    y_a: torch.Tensor
    y_b: torch.Tensor
    lam: torch.Tensor  # a 0-d tensor on the batch's device (no host sync)

    def loss(self, criterion, output: torch.Tensor) -> torch.Tensor:
        return self.lam * criterion(output, self.y_a) + (1 - self.lam) * criterion(output, self.y_b)


def sample_lambda(alpha: float, device) -> torch.Tensor:
    """lam ~ Beta(alpha, alpha), drawn on ``device`` (from that device's global RNG)."""
    a = torch.tensor(float(alpha), device=device)
    return torch.distributions.Beta(a, a).sample()


def mixup(x: torch.Tensor, y: torch.Tensor, alpha: float) -> MixedBatch:
    """Mix the batch ``(x, y)`` with one ``lam ~ Beta(alpha, alpha)``; labels stay as they are (pairs)."""
    if float(alpha) <= 0:
        raise NnmlError(f"task.mixup_alpha={alpha} is not valid; choose a number > 0 (0 or null turns mixup off)")
    lam = sample_lambda(alpha, x.device)
    perm = torch.randperm(x.shape[0], device=x.device)
    mixed = lam.to(x.dtype) * x + (1 - lam.to(x.dtype)) * x[perm]
    return MixedBatch(mixed, y, y[perm], lam)
