"""2-D toy distributions where a generative model's mode collapse can be seen: a ring of Gaussians, a grid of
Gaussians, two moons and a swiss roll (seeded, no download).

The ring (8 modes, radius 2, std 0.02) is the one of the unrolled-GAN paper (Metz et al. 2017); the 5x5 grid
(std 0.05 at spacing 2) the one of VEEGAN and PacGAN. Points are not standardized, so ``meta["modes"]`` (the mode
centres) and ``meta["mode_std"]`` are in data units for :mod:`nnml.tasks.generative.toy_measures`. The labels are the mode
(or moon) index, for conditional models; the swiss roll has one class.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from nnml.data.base import DataSplits
from nnml.errors import NnmlError


def ring_centres(modes: int, radius: float) -> np.ndarray:
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], 1)


def grid_centres(modes: int, radius: float) -> np.ndarray:
    side = math.isqrt(modes)
    if side * side != modes:
        raise NnmlError(f"dataset.modes={modes} is not valid for a grid; choose a square number, e.g. 25")
    ticks = np.linspace(-radius, radius, side)
    return np.array([(a, b) for a in ticks for b in ticks])


def _mixture(centres: np.ndarray, spread: float, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, len(centres), n)
    return centres[y] + rng.normal(0, spread, (n, 2)), y


def _finish(name, draw, seed, n_samples, val_fraction, test_fraction, num_classes, meta) -> DataSplits:
    # Each split is its own fresh draw from the distribution (not a partition): a generative model is judged on
    # points it never saw, and the split sizes follow the fractions.
    sizes = {"val": int(round(val_fraction * n_samples)), "test": int(round(test_fraction * n_samples))}
    sizes["train"] = n_samples - sizes["val"] - sizes["test"]
    if min(sizes.values()) < 2:
        raise NnmlError(f"dataset.n_samples={n_samples} is too small for val_fraction={val_fraction} and "
                        f"test_fraction={test_fraction}: every split needs at least 2 points")
    out = {}
    for i, split in enumerate(("train", "val", "test")):
        x, y = draw(sizes[split], np.random.default_rng([seed, i]))
        out[split] = (torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long))
    return DataSplits(name, "points2d", *out["train"], *out["val"], *out["test"], (2,), num_classes,
                      [str(c) for c in range(num_classes)], meta)


def _check(**keys) -> None:
    for k, v in keys.items():
        if not v > 0:
            raise NnmlError(f"dataset.{k}={v} is not valid; it must be positive")


def ring(seed: int, n_samples: int = 20000, modes: int = 8, radius: float = 2.0, spread: float = 0.02,
         val_fraction: float = 0.1, test_fraction: float = 0.1) -> DataSplits:
    """``modes`` Gaussians of std ``spread`` evenly spaced on a circle of ``radius``."""
    _check(modes=modes, radius=radius, spread=spread, n_samples=n_samples)
    centres = ring_centres(int(modes), radius)
    return _finish("ring", lambda n, rng: _mixture(centres, spread, n, rng), seed, n_samples, val_fraction,
                   test_fraction, int(modes), {"modes": centres.tolist(), "mode_std": float(spread)})


def grid(seed: int, n_samples: int = 20000, modes: int = 25, radius: float = 4.0, spread: float = 0.05,
         val_fraction: float = 0.1, test_fraction: float = 0.1) -> DataSplits:
    """A square grid of ``modes`` Gaussians of std ``spread``, centres from -radius to radius on each axis."""
    _check(modes=modes, radius=radius, spread=spread, n_samples=n_samples)
    centres = grid_centres(int(modes), radius)
    return _finish("grid", lambda n, rng: _mixture(centres, spread, n, rng), seed, n_samples, val_fraction,
                   test_fraction, int(modes), {"modes": centres.tolist(), "mode_std": float(spread)})


def two_moons(seed: int, n_samples: int = 20000, radius: float = 1.0, spread: float = 0.05,
              val_fraction: float = 0.1, test_fraction: float = 0.1) -> DataSplits:
    """Two interleaving half circles of ``radius`` with Gaussian noise of std ``spread`` (as scikit-learn's
    make_moons at radius 1)."""
    _check(radius=radius, spread=spread, n_samples=n_samples)

    def draw(n, rng):
        y = rng.integers(0, 2, n)
        t = rng.uniform(0, np.pi, n)
        x = np.stack([np.cos(t), np.sin(t)], 1)
        lower = y == 1
        x[lower] = np.stack([1 - np.cos(t[lower]), 0.5 - np.sin(t[lower])], 1)
        return radius * x + rng.normal(0, spread, (n, 2)), y

    return _finish("two_moons", draw, seed, n_samples, val_fraction, test_fraction, 2, {})


def swiss_roll(seed: int, n_samples: int = 20000, radius: float = 1.0, spread: float = 0.05, turns: float = 1.5,
               val_fraction: float = 0.1, test_fraction: float = 0.1) -> DataSplits:
    """A 2-D swiss roll: the spiral r = t from t = 1.5 pi over ``turns`` turns, scaled to an outer ``radius``,
    noise of std ``spread``."""
    _check(radius=radius, spread=spread, turns=turns, n_samples=n_samples)
    t0, t1 = 1.5 * np.pi, 1.5 * np.pi + 2 * np.pi * turns

    def draw(n, rng):
        t = t0 + (t1 - t0) * np.sqrt(rng.uniform(0, 1, n))  # sqrt: even density along the arm
        x = radius * np.stack([t * np.cos(t), t * np.sin(t)], 1) / t1
        return x + rng.normal(0, spread, (n, 2)), np.zeros(n, dtype=np.int64)

    return _finish("swiss_roll", draw, seed, n_samples, val_fraction, test_fraction, 1, {})
