"""The contract every dataset meets, and the shared split-and-standardize step of the builders.

A dataset builder (the ``_target_`` of a ``configs/dataset/*.yaml`` file) takes ``seed``, ``val_fraction`` and
``test_fraction`` plus its own keys, and returns :class:`DataSplits`. Loader keys (``batch_size``, ``loader``,
``num_workers``) stay in the config for the batch sources and are not passed to the builder (``nnml.run.build``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from nnml.errors import NnmlError

# What kind of data a builder returns; the supervised task handles the first two, other tasks name their own
# ("segmentation", "seq2seq", "tagging", "interactions", "unlabeled", ...).
Task = Literal["classification", "regression"] | str

# Keys of a dataset config that configure batching, not the data itself.
LOADER_KEYS = ("batch_size", "eval_batch_size", "loader", "num_workers", "pin_memory")


@dataclass
class DataSplits:
    """Train/val/test tensors (on the CPU, standardized with train statistics) and what the model needs to know.

    ``y_*`` may be None (unlabeled data). ``meta`` holds further facts the data decides (``vocab_size``,
    ``num_users``, ``in_channels``, ...): models receive every fact their constructor names (``nnml.run.build``).
    Data too large for memory may be a subclass whose ``x_*`` are sequences decoded per item (``len(x)`` and a
    slice ``x[:n]``, a tensor, work as on tensors) and that brings its own ``batches(split, builder)``, which
    ``Task.batches`` uses (:class:`nnml.data.image_folder.ImageFolderSplits`)."""

    name: str
    task: Task
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    input_shape: tuple[int, ...]
    num_outputs: int
    class_names: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def facts(self) -> dict:
        """What a model may be told at build time, by constructor parameter name."""
        return {"input_shape": tuple(self.input_shape), "num_outputs": self.num_outputs, **self.meta}

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in ("train", "val", "test"):
            raise NnmlError(f"split={name} is not valid; choose one of: test, train, val")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def sizes(self) -> dict[str, int]:
        return {s: len(self.split(s)[0]) for s in ("train", "val", "test")}


def train_subset_size(n: int, train_fraction: float = 1.0, n_train: int | None = None) -> int:
    """How many of ``n`` training rows ``dataset.train_fraction`` / ``dataset.n_train`` keep (checked, one line)."""
    if n_train is not None:
        if int(n_train) < 1:
            raise NnmlError(f"dataset.n_train={n_train} is not valid; choose a positive count up to {n} (or null)")
        return min(n, int(n_train))
    if not 0 < float(train_fraction) <= 1:
        raise NnmlError(f"dataset.train_fraction={train_fraction} is not valid; choose a number in (0, 1]")
    return max(1, int(round(float(train_fraction) * n)))


def split_and_standardize(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    task: Task,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    input_shape: tuple[int, ...] | None = None,
    class_names: list[str] | None = None,
    standardize: str = "feature",
    fixed_test_rows: int = 0,
    train_fraction: float = 1.0,
    n_train: int | None = None,
    feature_names: list[str] | None = None,
) -> DataSplits:
    """Split (stratified for classification) with ``seed`` and standardize with the train split's statistics only.

    ``standardize``: ``feature`` (per input feature), ``global`` (one mean and std, for images), ``unit`` (the
    train split's range mapped to [0, 1] and clipped there: pixels as probabilities, for Bernoulli likelihoods and
    sigmoid outputs; ``meta["value_range"]`` says so) or ``none``.
    ``fixed_test_rows``: the last rows form the test split as they are (an official test set), and only the rest
    is split into train and val.
    ``train_fraction`` / ``n_train``: keep only that share (or that many) of the train split, seeded and stratified,
    after val and test were carved out (they stay whole), to make overfitting visible; the standardization
    statistics come from the kept rows.
    ``feature_names``: the name of each input column (``meta["feature_names"]``), so that new rows can be given by
    name (``nnml predict RUN --file rows.csv``).
    ``meta["standardization"]`` records the statistics (as plain floats, float32 values), so that new raw inputs
    are prepared as the training inputs were (:mod:`nnml.data.new_inputs`).
    Regression targets are standardized too, so that losses and learning rates mean the same on every dataset;
    metrics are computed on that scale (R^2 does not depend on it).
    """
    from sklearn.model_selection import train_test_split

    x = np.asarray(x, dtype=np.float32)
    n = len(x)
    stratify = y if task == "classification" else None
    idx = np.arange(n)
    test_n = max(1, int(round(test_fraction * n)))
    val_n = max(1, int(round(val_fraction * n))) if val_fraction > 0 else 0
    if fixed_test_rows:
        rest, test_idx = idx[:-fixed_test_rows], idx[-fixed_test_rows:]
    else:
        rest, test_idx = train_test_split(idx, test_size=test_n, random_state=seed, stratify=stratify)
    if val_n:
        train_idx, val_idx = train_test_split(
            rest, test_size=val_n, random_state=seed, stratify=None if stratify is None else y[rest]
        )
    else:
        # No validation split asked for: validate on the test split's rows would leak, so use the train rows.
        train_idx, val_idx = rest, rest
    keep = train_subset_size(len(train_idx), train_fraction, n_train)
    if keep < len(train_idx):
        strat = None if stratify is None or keep < len(np.unique(y[train_idx])) else y[train_idx]
        train_idx, _ = train_test_split(train_idx, train_size=keep, random_state=seed, stratify=strat)

    flat = x.reshape(n, -1)
    if standardize == "feature":
        mean = flat[train_idx].mean(0)
        std = flat[train_idx].std(0)
    elif standardize == "global":
        mean = flat[train_idx].mean()
        std = flat[train_idx].std()
    elif standardize == "unit":
        mean = flat[train_idx].min()
        std = flat[train_idx].max() - mean
    elif standardize == "none":
        mean, std = 0.0, 1.0
    else:
        raise NnmlError(f"dataset.standardize={standardize} is not valid; choose one of: feature, global, none, unit")
    # Constant features (e.g. border pixels of digits) have std 0: leave them centred, not divided by zero.
    std = np.where(np.asarray(std) < 1e-8, 1.0, std)
    flat = ((flat - mean) / std).astype(np.float32)
    if standardize == "unit":
        flat = np.clip(flat, 0.0, 1.0)
    shape = tuple(input_shape) if input_shape else (flat.shape[1],)
    xt = torch.from_numpy(flat.reshape(n, *shape))

    if task == "classification":
        yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
        num_outputs = int(yt.max()) + 1
        names = list(class_names) if class_names is not None else [str(i) for i in range(num_outputs)]
    else:
        yv = np.asarray(y, dtype=np.float32).reshape(n, -1)
        ymean, ystd = yv[train_idx].mean(0), yv[train_idx].std(0)
        ystd = np.where(ystd < 1e-8, 1.0, ystd)
        yt = torch.from_numpy(((yv - ymean) / ystd).astype(np.float32))
        num_outputs = yt.shape[1]
        names = []

    def take(ix):
        ix = torch.as_tensor(np.sort(ix))
        return xt[ix].contiguous(), yt[ix].contiguous()

    (xtr, ytr), (xva, yva), (xte, yte) = take(train_idx), take(val_idx), take(test_idx)
    meta = {"value_range": [0.0, 1.0]} if standardize == "unit" else {}
    stats = {"mode": standardize, "mean": _plain(mean), "std": _plain(std)}
    if task != "classification":
        stats["target"] = {"mean": _plain(ymean), "std": _plain(ystd)}
    meta["standardization"] = stats
    if feature_names is not None:
        meta["feature_names"] = [str(n) for n in feature_names]
    return DataSplits(name, task, xtr, ytr, xva, yva, xte, yte, shape, num_outputs, names, meta)


def _plain(values):
    """float32 statistics as plain floats (a list, or one number): exact, and safe to keep in ``meta``."""
    return np.asarray(values, dtype=np.float32).tolist()


def split_indices(n: int, y, seed: int, val_fraction: float, test_fraction: float | None, where,
                  items: str = "rows", names=None) -> tuple:
    """Sorted (train, val, test) indices of ``n`` rows, drawn as :func:`split_and_standardize` draws them (the same
    rows for the same ``y`` and seed). ``y`` (class ids) stratifies, or None; ``test_fraction`` None: no test rows
    (a test file or folder gives them). A split that cannot be drawn is one line naming ``where`` and the rare
    classes (by ``names``)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    try:
        if test_fraction is None:
            rest, test = idx, idx[:0]
        else:
            rest, test = train_test_split(idx, test_size=max(1, int(round(test_fraction * n))), random_state=seed,
                                          stratify=y)
        val_n = max(1, int(round(val_fraction * n))) if val_fraction > 0 else 0
        if val_n:
            train, val = train_test_split(rest, test_size=val_n, random_state=seed,
                                          stratify=None if y is None else y[rest])
        else:
            train, val = rest, rest  # no validation split: validate on the train rows (never on the test rows)
    except ValueError as e:
        splits = "train/val" if test_fraction is None else "train/val/test"
        if y is None:
            raise NnmlError(f"{where}: {n} {items} cannot be split into {splits} ({str(e).splitlines()[0][:200]}); "
                            f"add {items} or change dataset.val_fraction/test_fraction") from None
        counts = np.bincount(y)
        rare = [i for i, c in enumerate(counts) if 0 < c < 3]
        named = [str(names[i]) if names is not None else str(i) for i in rare]
        why = (f"{len(rare)} class(es) have fewer than 3 {items}: {', '.join(named[:5])}{', ...' if len(rare) > 5 else ''}"
               if rare else f"{int((counts > 0).sum())} classes need more val/test {items} than the fractions give")
        raise NnmlError(f"{where}: {n} {items} cannot be split into {splits} stratified by class ({why}); add "
                        f"{items}, merge rare classes or change dataset.val_fraction/test_fraction") from None
    return np.sort(train), np.sort(val), np.sort(test)
