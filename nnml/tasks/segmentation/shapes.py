"""``dataset=shapes``: procedural images of overlapping shapes with a per-pixel class mask, drawn from the seed.

Every image has a textured, noisy background (class 0) and ``objects`` shapes of random class, size, position,
rotation and colour painted one over the other (a later shape hides an earlier one, in the mask too). The same
seed and keys always give the same images; nothing is downloaded.

    nnml train experiment=shapes_unet
"""

from __future__ import annotations

import numpy as np

from nnml.data.base import DataSplits
from nnml.errors import NnmlError, bad_choice
from nnml.tasks.segmentation.splits import segmentation_splits

SHAPES = ("circle", "rectangle", "triangle", "ellipse", "ring")


def _as_range(key: str, value, cast=float) -> tuple:
    lo, hi = (value, value) if np.isscalar(value) else tuple(value)
    if not (len((lo, hi)) == 2 and lo <= hi):
        raise NnmlError(f"dataset.{key}={value} is not valid; give one number or [low, high] with low <= high")
    return cast(lo), cast(hi)


def _shape_masks(kind: str, xs, ys, cx, cy, r, theta, aspect) -> np.ndarray:
    """(N, H, W) boolean masks of one shape kind for N parameter sets (coordinates in [0, 1])."""
    dx, dy = xs - cx[:, None, None], ys - cy[:, None, None]
    rr = r[:, None, None]
    if kind == "circle":
        return dx * dx + dy * dy <= rr * rr
    if kind == "ring":
        d2 = dx * dx + dy * dy
        return (d2 <= rr * rr) & (d2 >= (0.55 * rr) ** 2)
    c, s = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    u, v = c * dx + s * dy, -s * dx + c * dy  # coordinates in the shape's own rotated frame
    if kind == "rectangle":  # axis-aligned: rotation would make rectangles and triangles harder to tell apart
        return (np.abs(dx) <= rr) & (np.abs(dy) <= rr * aspect[:, None, None])
    if kind == "ellipse":
        a = 0.45 * aspect[:, None, None] + 0.05  # minor/major axis 0.4-0.5: never mistaken for a circle
        return (u / rr) ** 2 + (v / (rr * a)) ** 2 <= 1
    if kind == "triangle":
        # An equilateral triangle of circumradius 1.3 r (its area then matches the other shapes'): inside when on
        # the inner side of all three edges.
        inside = np.ones(u.shape, dtype=bool)
        for k in range(3):
            phi = 2 * np.pi * k / 3 + np.pi / 3  # the outward normal of edge k, between two vertices
            inside &= u * np.cos(phi) + v * np.sin(phi) <= 0.65 * rr
        return inside
    raise bad_choice("dataset.classes", kind, SHAPES)


def make_shapes(seed: int, n_images: int, image_size: int = 32, objects=(1, 3), classes=("circle", "rectangle", "triangle"),
                size=(0.18, 0.35), noise: float = 0.08, texture: float = 0.3, channels: int = 3,
                min_contrast: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, C, S, S) float32 in [0, 1] and masks (N, S, S) uint8 (0 = background, i + 1 = classes[i])."""
    for c in classes:
        if c not in SHAPES:
            raise bad_choice("dataset.classes", c, SHAPES)
    if channels not in (1, 3):
        raise NnmlError(f"dataset.channels={channels} is not valid; choose one of: 1, 3")
    if image_size < 8:
        raise NnmlError(f"dataset.image_size={image_size} is not valid; use at least 8")
    lo_obj, hi_obj = _as_range("objects", objects, int)
    lo_size, hi_size = _as_range("size", size)
    if lo_obj < 0 or not 0 < lo_size <= hi_size <= 0.5:
        raise NnmlError(f"dataset.objects={objects} / dataset.size={size} are not valid; objects >= 0, 0 < size <= 0.5")
    rng = np.random.default_rng(seed)
    n, s = int(n_images), int(image_size)
    grid = (np.arange(s) + 0.5) / s  # pixel centres
    xs, ys = np.meshgrid(grid, grid)  # (S, S) each: x across columns, y down rows
    # Background: a colour ramp in a random direction (texture) under Gaussian pixel noise.
    c0 = rng.uniform(0, 1, (n, channels))
    c1 = np.clip(c0 + rng.uniform(-1, 1, (n, channels)) * texture, 0, 1)
    phi = rng.uniform(0, 2 * np.pi, n)
    ramp = (np.cos(phi)[:, None, None] * (xs - 0.5) + np.sin(phi)[:, None, None] * (ys - 0.5)) / np.sqrt(2) + 0.5
    img = c0[:, :, None, None] + (c1 - c0)[:, :, None, None] * ramp[:, None]
    mask = np.zeros((n, s, s), dtype=np.uint8)
    count = rng.integers(lo_obj, hi_obj + 1, n)
    for slot in range(hi_obj):  # one vectorized pass per object slot, over all images at once
        kind = rng.integers(0, len(classes), n)
        r = rng.uniform(lo_size, hi_size, n)
        # Centres keep at least 70% of the radius inside the image: a shape cut by the border is not mistaken
        # for another (a halved circle is not a rectangle's corner).
        cx, cy = rng.uniform(0.7 * r, 1 - 0.7 * r), rng.uniform(0.7 * r, 1 - 0.7 * r)
        theta = rng.uniform(0, 2 * np.pi, n)
        aspect = rng.uniform(0.55, 1.0, n)
        colour = rng.uniform(0, 1, (n, channels))
        # A colour too close to the background's is drawn again (a few times), so shapes stay visible.
        for _ in range(8):
            close = np.abs(colour - c0).max(1) < min_contrast
            if not close.any():
                break
            colour[close] = rng.uniform(0, 1, (int(close.sum()), channels))
        active = slot < count
        for k, name in enumerate(classes):
            sel = np.flatnonzero(active & (kind == k))
            if sel.size == 0:
                continue
            m = _shape_masks(name, xs, ys, cx[sel], cy[sel], r[sel], theta[sel], aspect[sel])
            mask[sel] = np.where(m, k + 1, mask[sel])
            img[sel] = np.where(m[:, None], colour[sel][:, :, None, None], img[sel])
    img = img + rng.normal(0, noise, img.shape) if noise > 0 else img
    return np.clip(img, 0, 1).astype(np.float32), mask


def shapes(seed: int, n_images: int = 3000, image_size: int = 32, objects=(1, 3),
           classes=("circle", "rectangle", "triangle"), size=(0.18, 0.35), noise: float = 0.08, texture: float = 0.3,
           channels: int = 3, min_contrast: float = 0.25, val_fraction: float = 0.1,
           test_fraction: float = 0.15) -> DataSplits:
    """Procedural shapes segmentation: ``1 + len(classes)`` classes (background first)."""
    classes = list(classes)
    if not classes or len(set(classes)) != len(classes):
        raise NnmlError(f"dataset.classes={classes} is not valid; list distinct shapes from: {', '.join(SHAPES)}")
    x, y = make_shapes(seed, n_images, image_size, objects, classes, size, noise, texture, channels, min_contrast)
    return segmentation_splits("shapes", x, y, ["background", *classes], seed=seed, val_fraction=val_fraction,
                               test_fraction=test_fraction)
