"""The Frechet distance between two sets of features, each summarised by a Gaussian (mean and covariance).

    d^2 = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})            (Dowson & Landau 1982; FID, Heusel et al. 2017)

Inception-based FID needs Inception weights (a download) and torch-fidelity, neither usable here, so nnml computes
the same distance in the feature space of a classifier it trains on the same dataset (``nnml.tasks.generative.features``);
any feature ``nn.Module`` works. The numbers are comparable between runs that use the same feature network only.

The trace of the matrix square root is taken as Tr((S_1^{1/2} S_2 S_1^{1/2})^{1/2}): S_1^{1/2} S_2 S_1^{1/2} is
symmetric positive semi-definite and has the eigenvalues of S_1 S_2, so a symmetric eigendecomposition (``eigvalsh``)
in float64 gives real, non-negative eigenvalues. ``sqrtm(S_1 S_2)`` by a general eigen or Schur method (scipy's,
torchmetrics' ``eigvals``) can return complex parts and small negative values from rounding that must be cut off.
"""

from __future__ import annotations

import torch


def _psd_sqrt(s: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(s)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def trace_sqrt_product(s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """Tr((S_1 S_2)^{1/2}) for symmetric PSD S_1, S_2 (float64)."""
    a = _psd_sqrt(s1.double())
    m = a @ s2.double() @ a
    m = (m + m.T) / 2  # exactly symmetric despite rounding
    return torch.linalg.eigvalsh(m).clamp(min=0).sqrt().sum()


def frechet_from_stats(mu1, s1, mu2, s2) -> float:
    """The Frechet distance between N(mu1, s1) and N(mu2, s2)."""
    mu1, mu2, s1, s2 = (torch.as_tensor(t, dtype=torch.float64) for t in (mu1, mu2, s1, s2))
    d = (mu1 - mu2).square().sum() + s1.trace() + s2.trace() - 2 * trace_sqrt_product(s1, s2)
    return float(d.clamp(min=0))


class GaussianStats:
    """Running sums of features (float64) giving their mean and unbiased covariance, as torchmetrics keeps them."""

    def __init__(self, dim: int, device=None):
        self.n = 0
        self.sum = torch.zeros(dim, dtype=torch.float64, device=device)
        self.outer = torch.zeros(dim, dim, dtype=torch.float64, device=device)

    @torch.no_grad()
    def update(self, features: torch.Tensor) -> None:
        f = features.detach().double().reshape(len(features), -1)
        self.n += len(f)
        self.sum += f.sum(0)
        self.outer += f.T @ f

    def mean_cov(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.n < 2:
            raise ValueError("the Frechet distance needs at least 2 samples on each side")
        mu = self.sum / self.n
        cov = (self.outer - self.n * torch.outer(mu, mu)) / (self.n - 1)
        return mu, cov


def feature_stats(features_fn, batches) -> GaussianStats:
    """Statistics of ``features_fn(x)`` over an iterable of input batches."""
    stats = None
    for x in batches:
        f = features_fn(x)
        if stats is None:
            stats = GaussianStats(f.reshape(len(f), -1).shape[1], f.device)
        stats.update(f)
    return stats


def frechet_distance(a: torch.Tensor | GaussianStats, b: torch.Tensor | GaussianStats) -> float:
    """The Frechet distance between two feature sets (N x d tensors) or their :class:`GaussianStats`."""
    def stats(t):
        if isinstance(t, GaussianStats):
            return t
        s = GaussianStats(t.reshape(len(t), -1).shape[1], t.device)
        s.update(t)
        return s

    (mu1, s1), (mu2, s2) = stats(a).mean_cov(), stats(b).mean_cov()
    return frechet_from_stats(mu1, s1, mu2, s2)


def class_histogram(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Share of samples the classifier assigns to each class (a sum-to-one vector): missing classes show mode
    dropping that a Frechet distance alone can hide."""
    counts = torch.bincount(logits.argmax(1).cpu(), minlength=num_classes).double()
    return counts / counts.sum().clamp(min=1)


def histogram_summary(hist: torch.Tensor) -> dict[str, float]:
    """Classes covered (share >= a fifth of uniform), and the KL divergence of the histogram from uniform (nats)."""
    k = len(hist)
    covered = int((hist >= 0.2 / k).sum())
    p = hist[hist > 0]
    kl = float((p * (p * k).log()).sum())
    return {"classes_covered": covered, "class_kl": kl}
