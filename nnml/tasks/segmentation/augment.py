"""Paired augmentations for segmentation: one random geometric transform per sample moves image and mask together.

Flips, a random crop (resized back), a zoom and a small rotation are combined into one affine map per sample and
applied with a single ``grid_sample`` to the batch on its device: bilinear for images, nearest for masks, so mask
values stay class ids. Randomness comes from torch's global RNG on the batch's device, which the loop checkpoints
(resumes are exact).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from nnml.errors import NnmlError


class PairedAugment:
    """``hflip``/``vflip``: probabilities; ``rotate``: maximum angle in degrees (uniform in [-rotate, rotate]);
    ``scale``: [low, high] zoom factor (>1 zooms in); ``crop``: smallest crop side as a fraction of the image
    (1.0: no crop), placed uniformly inside and resized back to the full size; ``padding``: what fills pixels
    that come from outside the image (``reflection``, ``border`` or ``zeros``; with ``zeros`` those mask pixels
    become ``ignore_index``)."""

    def __init__(self, hflip: float = 0.5, vflip: float = 0.0, rotate: float = 0.0, scale=(1.0, 1.0),
                 crop: float = 1.0, padding: str = "reflection", ignore_index: int = 255):
        lo, hi = (scale, scale) if isinstance(scale, (int, float)) else tuple(scale)
        for key, ok in (("hflip", 0 <= hflip <= 1), ("vflip", 0 <= vflip <= 1), ("rotate", 0 <= rotate <= 180),
                        ("scale", 0 < lo <= hi), ("crop", 0 < crop <= 1)):
            if not ok:
                raise NnmlError(f"task.augment.{key} is not valid: probabilities lie in [0, 1], rotate in [0, 180] "
                                f"degrees, scale is [low, high] with 0 < low <= high, crop in (0, 1]")
        if padding not in ("reflection", "border", "zeros"):
            raise NnmlError(f"task.augment.padding={padding} is not valid; choose one of: border, reflection, zeros")
        self.hflip, self.vflip, self.rotate = float(hflip), float(vflip), float(rotate)
        self.scale, self.crop, self.padding, self.ignore_index = (float(lo), float(hi)), float(crop), padding, ignore_index

    @property
    def identity(self) -> bool:
        return (self.hflip == 0 and self.vflip == 0 and self.rotate == 0 and self.scale == (1.0, 1.0)
                and self.crop == 1.0)

    def sample_theta(self, n: int, device) -> torch.Tensor:
        """(n, 2, 3) affine maps from output to input coordinates in [-1, 1] (``F.affine_grid``'s convention)."""
        u = lambda: torch.rand(n, device=device)  # noqa: E731
        sx = torch.where(u() < self.hflip, -1.0, 1.0)
        sy = torch.where(u() < self.vflip, -1.0, 1.0)
        angle = (2 * u() - 1) * math.radians(self.rotate)
        zoom = self.scale[0] + (self.scale[1] - self.scale[0]) * u()
        side = self.crop + (1 - self.crop) * u()  # crop side as a fraction of the image
        # The crop's centre may move as far as keeps the crop inside the image.
        tx, ty = (2 * u() - 1) * (1 - side), (2 * u() - 1) * (1 - side)
        k = side / zoom  # output [-1, 1] covers k of the input's extent
        c, s = torch.cos(angle) * k, torch.sin(angle) * k
        theta = torch.stack([torch.stack([c * sx, -s * sy, tx], 1), torch.stack([s * sx, c * sy, ty], 1)], 1)
        return theta

    def warp(self, x: torch.Tensor, theta: torch.Tensor, mode: str) -> torch.Tensor:
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode=mode, padding_mode=self.padding, align_corners=False)

    def __call__(self, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images (N, C, H, W) float, masks (N, H, W) long -> both transformed by the same per-sample map."""
        if self.identity:
            return images, masks
        theta = self.sample_theta(images.shape[0], images.device)
        out = self.warp(images, theta, "bilinear")
        m = masks.unsqueeze(1).to(images.dtype if images.is_floating_point() else torch.float32)
        if self.padding == "zeros":
            m = m + 1  # zero padding then marks the pixels from outside the image (0 after the shift)
        m = self.warp(m, theta, "nearest").squeeze(1).round().long()
        if self.padding == "zeros":
            m = torch.where(m == 0, torch.full_like(m, self.ignore_index), m - 1)
        return out, m
