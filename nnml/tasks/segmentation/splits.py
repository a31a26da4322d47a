"""The split-and-standardize step shared by the segmentation datasets (``dataset=shapes``, ``image_folder_masks``).

Images are (N, C, H, W) floats in [0, 1], masks (N, H, W) class ids (``ignore_index`` marks pixels no loss or
metric counts). Images are standardized per channel with the train split's statistics; the statistics go into
``meta`` (``image_mean``, ``image_std``) so that figures and ``nnml predict`` can undo or repeat them.
"""

from __future__ import annotations

import numpy as np
import torch

from nnml.data.base import DataSplits
from nnml.errors import NnmlError


def split_indices(n: int, seed: int, val_fraction: float, test_fraction: float) -> tuple[np.ndarray, ...]:
    """Seeded train/val/test index arrays (sorted), each split non-empty."""
    if not 0 <= val_fraction < 1 or not 0 < test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise NnmlError(f"dataset.val_fraction={val_fraction} and dataset.test_fraction={test_fraction} are not valid; "
                        f"each must lie in [0, 1) and their sum below 1")
    if n < 3:
        raise NnmlError(f"a segmentation dataset needs at least 3 images (train, val, test); got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(test_fraction * n)))
    n_val = max(1, int(round(val_fraction * n))) if val_fraction > 0 else 0
    test, val, train = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    if n_val == 0:
        val = train  # no validation asked for: validate on train rows rather than leak the test rows
    return np.sort(train), np.sort(val), np.sort(test)


def segmentation_splits(name: str, images: np.ndarray, masks: np.ndarray, class_names: list[str], *, seed: int,
                        val_fraction: float, test_fraction: float, ignore_index: int = 255,
                        standardize: bool = True) -> DataSplits:
    """DataSplits of task ``segmentation``: x (N, C, H, W) float32, y (N, H, W) int64."""
    images = np.asarray(images, dtype=np.float32)
    masks = np.asarray(masks)
    if images.ndim != 4 or masks.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"images must be (N, C, H, W) and masks (N, H, W); got {images.shape} and {masks.shape}")
    k = len(class_names)
    bad = (masks != ignore_index) & ((masks < 0) | (masks >= k))
    if bad.any():
        values = sorted(set(np.unique(masks[bad]).tolist()))[:10]
        raise NnmlError(f"masks hold class ids {values} outside 0..{k - 1} ({k} classes) and not the ignore_index "
                        f"{ignore_index}: give dataset.classes or dataset.value_map")
    train, val, test = split_indices(len(images), seed, val_fraction, test_fraction)
    c = images.shape[1]
    if standardize:
        mean = images[train].mean(axis=(0, 2, 3))
        std = images[train].std(axis=(0, 2, 3))
        std = np.where(std < 1e-6, 1.0, std)  # a constant channel stays centred, not divided by zero
    else:
        mean, std = np.zeros(c, np.float32), np.ones(c, np.float32)
    x = torch.from_numpy((images - mean[None, :, None, None]) / std[None, :, None, None])
    y = torch.from_numpy(masks.astype(np.int64))

    def take(ix):
        ix = torch.as_tensor(ix)
        return x[ix].contiguous(), y[ix].contiguous()

    (xtr, ytr), (xva, yva), (xte, yte) = take(train), take(val), take(test)
    meta = {"in_channels": c, "ignore_index": int(ignore_index),
            "image_mean": [float(v) for v in mean], "image_std": [float(v) for v in std]}
    return DataSplits(name, "segmentation", xtr, ytr, xva, yva, xte, yte, tuple(images.shape[1:]), k,
                      list(class_names), meta)
