"""The Frechet distance against a closed form on Gaussians and against torchmetrics' FrechetInceptionDistance
given the same feature module; the class histogram."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nnml.tasks.generative.frechet import (
    GaussianStats,
    class_histogram,
    frechet_distance,
    frechet_from_stats,
    histogram_summary,
    trace_sqrt_product,
)


def _spd(d, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T + 0.1 * torch.eye(d, dtype=torch.float64)


def test_closed_form_diagonal_gaussians():
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, -1.0, 0.5])
    a, b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 1.0])
    # Commuting covariances: sum of squared mean gaps plus sum of (sqrt(a) - sqrt(b))^2.
    want = float((mu1 - mu2).square().sum() + (a.sqrt() - b.sqrt()).square().sum())
    assert frechet_from_stats(mu1, torch.diag(a), mu2, torch.diag(b)) == pytest.approx(want, rel=1e-12)


def test_closed_form_2d_non_commuting():
    s1, s2 = _spd(2, 0), _spd(2, 1)
    assert not torch.allclose(s1 @ s2, s2 @ s1)
    # For 2x2: (sqrt(l1) + sqrt(l2))^2 = tr(S1 S2) + 2 sqrt(det S1 det S2).
    want = math.sqrt(float((s1 @ s2).trace() + 2 * (s1.det() * s2.det()).sqrt()))
    assert float(trace_sqrt_product(s1, s2)) == pytest.approx(want, rel=1e-12)
    mu = torch.tensor([0.3, -0.2], dtype=torch.float64)
    d = frechet_from_stats(mu, s1, torch.zeros(2), s2)
    assert d == pytest.approx(0.13 + float(s1.trace() + s2.trace()) - 2 * want, rel=1e-10)


def test_identical_and_ill_conditioned():
    s = _spd(6, 2)
    assert frechet_from_stats(torch.zeros(6), s, torch.zeros(6), s) == pytest.approx(0.0, abs=1e-9)
    # Rank-deficient covariances (fewer samples than dimensions): finite and non-negative, no complex parts.
    x = torch.randn(5, 20, generator=torch.Generator().manual_seed(0))
    assert 0 <= frechet_distance(x, x + 0.1) < 1.0


def test_samples_approach_the_closed_form():
    g = torch.Generator().manual_seed(3)
    s1, s2 = _spd(4, 4), _spd(4, 5)
    mu1, mu2 = torch.randn(4, generator=g, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    n = 200_000
    x1 = mu1 + torch.randn(n, 4, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(s1).T
    x2 = mu2 + torch.randn(n, 4, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(s2).T
    want = frechet_from_stats(mu1, s1, mu2, s2)
    assert frechet_distance(x1, x2) == pytest.approx(want, rel=0.02)


def test_streaming_stats_equal_one_pass():
    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(1))
    s = GaussianStats(5)
    for chunk in x.split(64):
        s.update(chunk)
    mu, cov = s.mean_cov()
    assert torch.allclose(mu, x.double().mean(0)) and torch.allclose(cov, torch.cov(x.double().T))


class _Features(nn.Module):
    """A small fixed conv feature extractor on 1x8x8 images."""

    num_features = 12

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Tanh(), nn.Flatten(), nn.Linear(144, 12))

    def forward(self, x):
        return self.net(x)


def test_equals_torchmetrics_fid_with_the_same_feature_module():
    from torchmetrics.image.fid import FrechetInceptionDistance

    feats = _Features().eval()
    g = torch.Generator().manual_seed(7)
    real = torch.rand(400, 1, 8, 8, generator=g)
    fake = torch.rand(300, 1, 8, 8, generator=g) ** 3  # darker, less varied images
    fid = FrechetInceptionDistance(feature=feats, normalize=True)
    with torch.no_grad():
        for b in real.split(100):
            fid.update(b, real=True)
        for b in fake.split(100):
            fid.update(b, real=False)
        want = float(fid.compute())
        ours = frechet_distance(feats(real), feats(fake))
    assert want > 0.05
    assert ours == pytest.approx(want, rel=1e-4, abs=1e-5)


def test_class_histogram_and_coverage():
    logits = torch.zeros(10, 4)
    logits[torch.arange(10), torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 1, 2])] = 1.0
    hist = class_histogram(logits, 4)
    assert hist.tolist() == [0.5, 0.4, 0.1, 0.0]
    summary = histogram_summary(hist)
    assert summary["classes_covered"] == 3  # a share of at least a fifth of uniform (0.05) counts
    from scipy.stats import entropy

    assert summary["class_kl"] == pytest.approx(entropy(hist.numpy(), [0.25] * 4))
