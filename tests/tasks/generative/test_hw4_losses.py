"""GAN losses and the gradient penalty against direct formulas; the VAE's -ELBO against torch.distributions on a
batch; the importance-weighted NLL against numerical integration over a 1-D latent."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

from nnml.tasks.generative.losses import (
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    importance_weighted_nll,
    vae_terms,
)
from nnml.tasks.generative.vae_nets import VAE


def test_gan_losses():
    g = torch.Generator().manual_seed(0)
    r, f = torch.randn(50, generator=g), torch.randn(50, generator=g)
    bce = nn.functional.binary_cross_entropy_with_logits
    assert discriminator_loss("ns", r, f) == pytest.approx(
        float(bce(r, torch.ones(50)) + bce(f, torch.zeros(50))), rel=1e-6)
    assert generator_loss("ns", f) == pytest.approx(float(bce(f, torch.ones(50))), rel=1e-6)
    assert discriminator_loss("hinge", r, f) == pytest.approx(
        float(torch.clamp(1 - r, min=0).mean() + torch.clamp(1 + f, min=0).mean()), rel=1e-6)
    assert discriminator_loss("wgan_gp", r, f) == pytest.approx(float(f.mean() - r.mean()), rel=1e-6)
    assert generator_loss("hinge", f) == generator_loss("wgan_gp", f) == pytest.approx(float(-f.mean()))


def test_gradient_penalty_of_a_linear_critic():
    w = torch.tensor([3.0, 4.0])

    def critic(x, y=None):
        return x @ w

    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    assert float(gradient_penalty(critic, real, fake)) == pytest.approx((5.0 - 1.0) ** 2)


@pytest.mark.parametrize("likelihood, conditional", [("bernoulli", False), ("gaussian", True)])
def test_negative_elbo_equals_a_direct_computation(likelihood, conditional):
    torch.manual_seed(0)
    vae = VAE((1, 8, 8), num_outputs=10, latent_dim=3, hidden=[32], conditional=conditional, likelihood=likelihood)
    if likelihood == "gaussian":
        with torch.no_grad():
            vae.log_sigma.fill_(-1.3)
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    torch.manual_seed(1)
    got = vae_terms(vae, x, y)
    # Directly: the same reparameterised draw, the likelihood and the KL from torch.distributions.
    torch.manual_seed(1)
    mu, logvar = vae.encode(x, y)
    std = (0.5 * logvar).exp()
    z = mu + std * torch.randn_like(mu)
    out = vae.decode(z, y)
    if likelihood == "bernoulli":
        log_px = Bernoulli(logits=out, validate_args=False).log_prob(x).flatten(1).sum(1)
    else:
        log_px = Normal(out, math.exp(-1.3)).log_prob(x).flatten(1).sum(1)
    kl = kl_divergence(Normal(mu, std), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(got["rec"], -log_px)
    torch.testing.assert_close(got["kl"], kl)
    torch.testing.assert_close(got["nelbo"], kl - log_px)


def test_importance_weighted_nll_matches_numerical_integration():
    torch.manual_seed(0)
    vae = VAE((6,), latent_dim=1, hidden=[16]).double()
    x = (torch.rand(4, 6, dtype=torch.float64) > 0.5).double()
    # log p(x) = log \int p(x|z) N(z; 0, 1) dz on a fine grid over the latent.
    z = torch.linspace(-8, 8, 4001, dtype=torch.float64).unsqueeze(1)
    with torch.no_grad():
        out = vae.decode(z)
        ll = torch.stack([vae.log_likelihood(out, xi.expand(len(z), 6)) for xi in x])  # (4, grid)
    log_prior = Normal(0.0, 1.0).log_prob(z[:, 0]).double()
    dz = float(z[1, 0] - z[0, 0])
    exact_nll = -(torch.logsumexp(ll + log_prior, 1) + math.log(dz))
    torch.manual_seed(2)
    iw = importance_weighted_nll(vae, x, k=5000, chunk_values=60000)
    torch.testing.assert_close(iw, exact_nll, atol=0.02, rtol=0)
    with torch.no_grad():
        nelbo = vae_terms(vae, x.repeat(500, 1))["nelbo"].view(500, 4).mean(0)
    assert (nelbo >= exact_nll - 0.02).all()  # the ELBO is a lower bound
