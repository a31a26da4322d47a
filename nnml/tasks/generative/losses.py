"""Objectives of the generative tasks.

GAN losses, by name (``task.loss``):
- ``ns``: the non-saturating loss of Goodfellow et al. (2014): D maximises log D(x) + log(1 - D(G(z))), G maximises
  log D(G(z)) (written with softplus on logits);
- ``wgan_gp``: the Wasserstein critic with a gradient penalty (Gulrajani et al. 2017), used with ``n_critic`` > 1;
- ``hinge``: the hinge loss of Lim & Ye (2017) and Miyato et al. (2018).

VAE: the negative evidence lower bound -ELBO = E_q[-log p(x|z)] + KL(q(z|x) || N(0, I)) in nats per sample, and
the importance-weighted bound of Burda et al. (2016) on -log p(x) with k samples (tighter as k grows).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

GAN_LOSSES = ("hinge", "ns", "wgan_gp")


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's (critic's) loss from its scores on real and generated samples (lower is better)."""
    if kind == "ns":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if kind == "wgan_gp":
        return fake.mean() - real.mean()
    raise ValueError(kind)


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "ns":
        return F.softplus(-fake).mean()
    return -fake.mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, y=None) -> torch.Tensor:
    """E[(|grad_x critic(x_hat)| - 1)^2] at random points x_hat between real and generated samples."""
    eps = torch.rand(len(real), *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    score = critic(x_hat, y)
    (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
    return (grad.reshape(len(real), -1).norm(dim=1) - 1).square().mean()


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, summed over latent dimensions (nats)."""
    return 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(1)


def _randn(shape, like: torch.Tensor, generator=None) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)


def vae_terms(vae, x: torch.Tensor, y=None, generator=None) -> dict[str, torch.Tensor]:
    """One-sample estimate of the reconstruction term -log p(x|z), z ~ q(z|x) (reparameterised), and the exact KL,
    per sample. ``nelbo = rec + kl``. Noise from ``generator`` (default: torch's global RNG)."""
    mu, logvar = vae.encode(x, y)
    z = mu + (0.5 * logvar).exp() * _randn(mu.shape, mu, generator)
    rec = -vae.log_likelihood(vae.decode(z, y), x)
    kl = gaussian_kl(mu, logvar)
    return {"rec": rec, "kl": kl, "nelbo": rec + kl, "mu": mu}


def _log_normal(z, mu, logvar):
    return (-0.5 * ((z - mu).square() / logvar.exp() + logvar + math.log(2 * math.pi))).sum(-1)


@torch.no_grad()
def importance_weighted_nll(vae, x: torch.Tensor, y=None, k: int = 64, chunk_values: int = 2**23,
                            generator=None) -> torch.Tensor:
    """-log p(x) estimated per sample as -log (1/k sum_i p(x|z_i) p(z_i) / q(z_i|x)), z_i ~ q(z|x). The k
    samples are decoded in chunks of at most ``chunk_values`` data values (memory, not results, depends on it)."""
    mu, logvar = vae.encode(x, y)
    n, d = mu.shape
    per = max(1, chunk_values // max(1, x[0].numel() * n))
    log_w = []
    for start in range(0, k, per):
        m = min(per, k - start)
        z = mu + (0.5 * logvar).exp() * _randn((m, n, d), mu, generator)
        xr = x.unsqueeze(0).expand(m, *x.shape).reshape(m * n, *x.shape[1:])
        yr = None if y is None else y.unsqueeze(0).expand(m, n).reshape(m * n)
        log_px_z = vae.log_likelihood(vae.decode(z.reshape(m * n, d), yr), xr).view(m, n)
        log_pz = _log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
        log_w.append(log_px_z + log_pz - _log_normal(z, mu, logvar))
    return -(torch.logsumexp(torch.cat(log_w), 0) - math.log(k))
