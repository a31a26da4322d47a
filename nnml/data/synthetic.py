"""Synthetic datasets drawn from a seed: 2-D classification toys and 1-D function regression."""

from __future__ import annotations

import numpy as np

from nnml.data.base import DataSplits, split_and_standardize
from nnml.errors import bad_choice


def _finish(name, x, y, task, seed, val_fraction, test_fraction, standardize="feature") -> DataSplits:
    return split_and_standardize(name, x, y, task, seed=seed, val_fraction=val_fraction,
                                 test_fraction=test_fraction, standardize=standardize)


def moons(seed: int, n_samples: int = 1000, noise: float = 0.2, val_fraction: float = 0.15, test_fraction: float = 0.25) -> DataSplits:
    """Two interleaving half circles (scikit-learn's make_moons)."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    return _finish("moons", x, y, "classification", seed, val_fraction, test_fraction)


def circles(seed: int, n_samples: int = 1000, noise: float = 0.1, factor: float = 0.5, val_fraction: float = 0.15, test_fraction: float = 0.25) -> DataSplits:
    """A small circle inside a large one (scikit-learn's make_circles)."""
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=n_samples, noise=noise, factor=factor, random_state=seed)
    return _finish("circles", x, y, "classification", seed, val_fraction, test_fraction)


def spirals(seed: int, n_samples: int = 1000, noise: float = 0.2, classes: int = 2, turns: float = 1.5, val_fraction: float = 0.15, test_fraction: float = 0.25) -> DataSplits:
    """``classes`` interleaved Archimedean spirals of ``turns`` turns each."""
    rng = np.random.default_rng(seed)
    per = n_samples // classes
    xs, ys = [], []
    for c in range(classes):
        t = np.sqrt(rng.uniform(0, 1, per)) * turns * 2 * np.pi  # sqrt: even density along the arm
        phase = 2 * np.pi * c / classes
        arm = np.stack([t * np.cos(t + phase), t * np.sin(t + phase)], 1)
        xs.append(arm + rng.normal(0, noise, arm.shape))
        ys.append(np.full(per, c))
    return _finish("spirals", np.concatenate(xs), np.concatenate(ys), "classification", seed, val_fraction, test_fraction)


def xor(seed: int, n_samples: int = 1000, noise: float = 0.1, val_fraction: float = 0.15, test_fraction: float = 0.25) -> DataSplits:
    """Four Gaussian blobs at the corners of a square, opposite corners sharing a class (not linearly separable)."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 2, size=(n_samples, 2))
    x = (2 * corners - 1) + rng.normal(0, noise * 3, (n_samples, 2))
    y = corners[:, 0] ^ corners[:, 1]
    return _finish("xor", x, y, "classification", seed, val_fraction, test_fraction)


TARGETS = {
    "sin": lambda x: np.sin(2 * np.pi * x),
    "abs": lambda x: np.abs(x - 0.5),
    "step": lambda x: (x >= 0.5).astype(np.float64),
    "polynomial": lambda x: 8 * (x - 0.2) * (x - 0.5) * (x - 0.9),
}


def function(seed: int, target: str = "sin", n_samples: int = 1000, noise: float = 0.0, val_fraction: float = 0.15, test_fraction: float = 0.25) -> DataSplits:
    """1-D regression y = f(x) + noise on x in [0, 1], for universal approximation: f is sin(2 pi x), |x - 0.5|,
    a step at 0.5, or a cubic polynomial."""
    if target not in TARGETS:
        raise bad_choice("dataset.target", target, TARGETS)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n_samples, 1))
    y = TARGETS[target](x[:, 0]) + rng.normal(0, noise, n_samples) if noise else TARGETS[target](x[:, 0])
    return _finish(f"function_{target}", x, y, "regression", seed, val_fraction, test_fraction)
