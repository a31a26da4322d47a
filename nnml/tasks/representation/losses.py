"""Losses of self-supervised pretraining on two views of a batch.

- :func:`nt_xent`: SimCLR's normalized temperature-scaled cross entropy (Chen et al., 2020). The 2N projections
  of both views are L2-normalized; each one's positive is the other view of the same sample and its negatives are
  the other 2N - 2 projections. The tests check it against pytorch-metric-learning's
  ``SelfSupervisedLoss(NTXentLoss(temperature))``.
- :func:`simsiam_loss`: SimSiam (Chen & He, 2021): negative cosine between one view's prediction and the other
  view's projection, whose gradient is stopped; no negatives. The stop-gradient is what keeps it from collapsing.
- :func:`vicreg_loss`: VICReg (Bardes et al., 2022): invariance (MSE between views), variance (a hinge keeping
  each dimension's std above 1) and covariance (off-diagonal covariances pushed to 0); no negatives, no predictor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Mean NT-Xent over the 2N anchors of two views ``z1``, ``z2`` (N, D)."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))  # an anchor is not its own negative
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


def simsiam_loss(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Symmetrized negative cosine, predictions ``p`` against stopped projections ``z`` (minimum -1)."""
    return -(F.cosine_similarity(p1, z2.detach(), dim=1).mean() + F.cosine_similarity(p2, z1.detach(), dim=1).mean()) / 2


def vicreg_terms(z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-4) -> dict[str, torch.Tensor]:
    """The three unweighted VICReg terms: ``invariance``, ``variance``, ``covariance``."""
    n, d = z1.shape
    inv = F.mse_loss(z1, z2)
    var = cov = 0.0
    for z in (z1, z2):
        z = z - z.mean(0)
        std = torch.sqrt(z.var(0) + eps)
        var = var + F.relu(1 - std).mean() / 2
        c = (z.T @ z) / (n - 1)
        off = c - torch.diag(torch.diagonal(c))
        cov = cov + (off**2).sum() / d  # summed over the two views, as in the paper's code
    return {"invariance": inv, "variance": var, "covariance": cov}


def vicreg_loss(z1, z2, sim_weight: float = 25.0, var_weight: float = 25.0, cov_weight: float = 1.0):
    """The weighted sum of :func:`vicreg_terms` (the paper's weights 25, 25, 1) and the terms."""
    t = vicreg_terms(z1, z2)
    return sim_weight * t["invariance"] + var_weight * t["variance"] + cov_weight * t["covariance"], t
