"""Random augmentations for self-supervised views, one function per transform, batch-wise on the batch's device.

Every op is ``op(x, magnitude) -> x'`` on a whole batch; each sample draws its own random parameters from torch's
global RNG on ``x.device`` (the loop checkpoints those RNG states, so a resumed run draws the same views). A
magnitude of 0 leaves the batch unchanged, so every op can be switched off and its strength swept.

Shapes: images ``(N, C, H, W)``, 1-D signals ``(N, C, L)`` or ``(N, L)``, tabular rows ``(N, D)``. Inputs are
standardized (mean 0), so "zero" in cut-out, padding and masking means "the average value".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _uniform(n: int, low: float, high: float, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(n, device=like.device, dtype=like.dtype) * (high - low) + low


def _as_ncl(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    return (x.unsqueeze(1), True) if x.dim() == 2 else (x, False)


# ---------------------------------------------------------------------------------------------- any kind
def noise(x: torch.Tensor, std: float) -> torch.Tensor:
    """Additive Gaussian noise of standard deviation ``std`` (in standardized units)."""
    if std <= 0:
        return x
    return x + std * torch.randn_like(x)


def scale(x: torch.Tensor, amount: float) -> torch.Tensor:
    """Multiply each sample by a factor drawn uniformly from ``[1 - amount, 1 + amount]``."""
    if amount <= 0:
        return x
    f = _uniform(x.shape[0], 1 - amount, 1 + amount, x).view(-1, *([1] * (x.dim() - 1)))
    return x * f


# ---------------------------------------------------------------------------------------------- 1-D signals
def _resample_1d(x: torch.Tensor, grid: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Linear resampling of (N, C, L) at positions ``grid`` (N, L) in [-1, 1] (align_corners=True coordinates)."""
    g = torch.stack([grid, torch.zeros_like(grid)], dim=-1).unsqueeze(1)  # (N, 1, L, 2): a 1-pixel-high image
    return F.grid_sample(x.unsqueeze(2), g, mode="bilinear", padding_mode=padding_mode,
                         align_corners=True).squeeze(2)


def shift_1d(x: torch.Tensor, fraction: float) -> torch.Tensor:
    """Translate each signal by up to ``fraction`` of its length either way (whole samples), padding with 0."""
    if fraction <= 0:
        return x
    x3, flat = _as_ncl(x)
    n, _, length = x3.shape
    max_s = max(1, int(round(fraction * length)))
    s = torch.randint(-max_s, max_s + 1, (n, 1), device=x.device)
    idx = torch.arange(length, device=x.device).unsqueeze(0) - s  # out[t] = in[t - s]
    valid = (idx >= 0) & (idx < length)
    out = torch.gather(x3, 2, idx.clamp(0, length - 1).unsqueeze(1).expand_as(x3)) * valid.unsqueeze(1)
    return out.squeeze(1) if flat else out


def stretch_1d(x: torch.Tensor, amount: float) -> torch.Tensor:
    """Stretch or squeeze each signal in time about its centre by a factor in ``[1 - amount, 1 + amount]``
    (linear interpolation; what falls outside is 0)."""
    if amount <= 0:
        return x
    x3, flat = _as_ncl(x)
    n, _, length = x3.shape
    f = _uniform(n, 1 - amount, 1 + amount, x3).unsqueeze(1)
    base = torch.linspace(-1, 1, length, device=x.device, dtype=x.dtype).unsqueeze(0)
    out = _resample_1d(x3, base / f)
    return out.squeeze(1) if flat else out


# ---------------------------------------------------------------------------------------------- images
def _affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def crop(x: torch.Tensor, amount: float) -> torch.Tensor:
    """Random resized crop: a square window whose side is a fraction in ``[1 - amount, 1]`` of the image's,
    anywhere inside it, resized back to the full size."""
    if amount <= 0:
        return x
    n = x.shape[0]
    s = _uniform(n, max(1 - amount, 0.05), 1.0, x)
    # The window's centre may move as far as keeps it inside the image: |t| <= 1 - s.
    tx = (torch.rand(n, device=x.device, dtype=x.dtype) * 2 - 1) * (1 - s)
    ty = (torch.rand(n, device=x.device, dtype=x.dtype) * 2 - 1) * (1 - s)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, 0, 2], theta[:, 1, 2] = s, s, tx, ty
    return _affine(x, theta)


def shift_2d(x: torch.Tensor, fraction: float) -> torch.Tensor:
    """Translate each image by up to ``fraction`` of its width/height (whole pixels), padding with 0."""
    if fraction <= 0:
        return x
    n, _, h, w = x.shape
    my, mx = max(1, int(round(fraction * h))), max(1, int(round(fraction * w)))
    dy = torch.randint(-my, my + 1, (n,), device=x.device)
    dx = torch.randint(-mx, mx + 1, (n,), device=x.device)
    rows = torch.arange(h, device=x.device).unsqueeze(0) - dy.unsqueeze(1)  # (N, H)
    cols = torch.arange(w, device=x.device).unsqueeze(0) - dx.unsqueeze(1)  # (N, W)
    valid = ((rows >= 0) & (rows < h)).unsqueeze(2) & ((cols >= 0) & (cols < w)).unsqueeze(1)  # (N, H, W)
    flat_idx = rows.clamp(0, h - 1).unsqueeze(2) * w + cols.clamp(0, w - 1).unsqueeze(1)
    out = torch.gather(x.flatten(2), 2, flat_idx.flatten(1).unsqueeze(1).expand(-1, x.shape[1], -1))
    return out.view_as(x) * valid.unsqueeze(1)


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate each image about its centre by an angle in ``[-degrees, degrees]`` (bilinear, 0 outside)."""
    if degrees <= 0:
        return x
    n = x.shape[0]
    a = _uniform(n, -degrees, degrees, x) * (math.pi / 180)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(a), -torch.sin(a)
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(a), torch.cos(a)
    return _affine(x, theta)


def cutout(x: torch.Tensor, fraction: float) -> torch.Tensor:
    """Set one square of side ``fraction`` of the image (at a random centre, clipped at the borders) to 0."""
    if fraction <= 0:
        return x
    n, _, h, w = x.shape
    sh, sw = max(1, int(round(fraction * h))), max(1, int(round(fraction * w)))
    cy = torch.randint(0, h, (n, 1, 1), device=x.device)
    cx = torch.randint(0, w, (n, 1, 1), device=x.device)
    top, left = cy - sh // 2, cx - sw // 2
    r = torch.arange(h, device=x.device).view(1, h, 1)
    c = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (r >= top) & (r < top + sh) & (c >= left) & (c < left + sw)
    return x * (~hole).unsqueeze(1).to(x.dtype)


# ---------------------------------------------------------------------------------------------- tabular
def feature_mask(x: torch.Tensor, p: float) -> torch.Tensor:
    """Set each feature of each row to 0 (its mean) with probability ``p``."""
    if p <= 0:
        return x
    keep = torch.rand_like(x) >= p
    return x * keep.to(x.dtype)
