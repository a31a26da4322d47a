"""Sample quality on 2-D mixtures of Gaussians, as the unrolled-GAN, VEEGAN and PacGAN papers measure it.

A sample is of high quality when it lies within 3 standard deviations of its nearest mode centre; a mode is covered
when at least ``min_share`` of the count it would get under a uniform spread over the modes lands there as high
quality samples (PacGAN: 20 of 2500 samples over 25 modes, 0.2 of the uniform 100).
"""

from __future__ import annotations

import torch


def mode_measures(samples: torch.Tensor, modes, std: float, min_share: float = 0.2) -> dict[str, float]:
    """``modes_covered`` (count), ``high_quality`` (share of samples within 3 std of a mode) and
    ``mode_kl`` (KL divergence of the high quality samples' mode histogram from uniform, nats)."""
    centres = torch.as_tensor(modes, dtype=torch.float64)
    x = samples.detach().double().cpu().reshape(len(samples), -1)
    d = torch.cdist(x, centres)
    dist, nearest = d.min(1)
    good = dist <= 3 * std
    k = len(centres)
    counts = torch.bincount(nearest[good], minlength=k).double()
    covered = int((counts >= min_share * len(x) / k).sum())
    p = counts / counts.sum().clamp(min=1)
    nz = p[p > 0]
    return {"modes_covered": covered, "high_quality": float(good.double().mean()),
            "mode_kl": float((nz * (nz * k).log()).sum()) if len(nz) else float("nan")}
