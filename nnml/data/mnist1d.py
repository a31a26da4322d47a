"""MNIST-1D (Greydanus and Kobak, "Scaling Down Deep Learning", ICML 2024): 1-D digits made offline.

The ``mnist1d`` package (Apache-2.0) draws each signal from one of ten 12-point templates: padded, dilated, scaled,
translated, with correlated and i.i.d. noise, sheared and resampled to ``final_seq_length`` points. Its defaults give
5000 signals of length 40, the first 80% the official train split, the rest the official test split. The generator
is called here with those arguments as dataset keys; the package's ``get_dataset`` is never called, because with its
default ``download=True`` it goes to the network (no timeout) before generating.

Each signal is a sequence of ``(channels=1, length)``: ``model=cnn1d``, ``gru`` and ``lstm`` read it as such,
``linear`` and ``mlp`` flatten it. The official test split is kept whole; val is carved out of the train split.

    nnml train dataset=mnist1d model=cnn1d
    nnml train dataset=mnist1d dataset.shuffle_seq=true     # positions shuffled: the CNN loses its edge
"""

from __future__ import annotations

import os
import random
import sys
from functools import lru_cache

import numpy as np

from nnml.data.base import DataSplits, split_and_standardize
from nnml.errors import NnmlError


def _generator():
    """``mnist1d.data.make_dataset``. The package imports matplotlib.pyplot at import time: without a display
    (servers, CI) and no backend chosen, take the non-GUI one first."""
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        import matplotlib

        matplotlib.use("Agg")
    from mnist1d.data import get_dataset_args, make_dataset

    return get_dataset_args, make_dataset


def generate(num_samples: int = 5000, train_split: float = 0.8, template_len: int = 12, padding=(36, 60),
             scale_coeff: float = 0.4, max_translation: int = 48, corr_noise_scale: float = 0.25,
             iid_noise_scale: float = 2e-2, shear_scale: float = 0.75, shuffle_seq: bool = False,
             final_seq_length: int = 40, data_seed: int = 42) -> dict:
    """The package's dataset dict (``x``, ``y``, ``x_test``, ``y_test``, ``t``) for these generator arguments.

    ``make_dataset`` seeds numpy's and Python's global RNGs; their states are restored afterwards so that building
    the data leaves no trace on anything else that draws from them."""
    if int(num_samples) < 10 or not 0 < float(train_split) < 1:
        raise NnmlError(f"dataset.num_samples={num_samples} / dataset.train_split={train_split} are not valid; "
                        "choose num_samples >= 10 (a multiple of 10) and train_split in (0, 1)")
    if len(padding) != 2 or int(padding[0]) > int(padding[1]):
        raise NnmlError(f"dataset.padding={list(padding)} is not valid; choose [low, high] with low <= high")
    arrays = _generate(int(num_samples), float(train_split), int(template_len), (int(padding[0]), int(padding[1])),
                       float(scale_coeff), int(max_translation), float(corr_noise_scale), float(iid_noise_scale),
                       float(shear_scale), bool(shuffle_seq), int(final_seq_length), int(data_seed))
    return {k: v.copy() for k, v in arrays.items()}


@lru_cache(maxsize=4)  # a few seconds per call on a busy CPU; sweeps in one process and tests reuse it
def _generate(num_samples, train_split, template_len, padding, scale_coeff, max_translation, corr_noise_scale,
              iid_noise_scale, shear_scale, shuffle_seq, final_seq_length, data_seed) -> dict:
    get_args, make = _generator()
    args = get_args()
    for key, value in dict(num_samples=num_samples, train_split=train_split, template_len=template_len,
                           padding=list(padding), scale_coeff=scale_coeff, max_translation=max_translation,
                           corr_noise_scale=corr_noise_scale, iid_noise_scale=iid_noise_scale,
                           shear_scale=shear_scale, shuffle_seq=shuffle_seq, final_seq_length=final_seq_length,
                           seed=data_seed).items():
        setattr(args, key, value)
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make(args)
        return {k: np.asarray(d[k]) for k in ("x", "y", "x_test", "y_test", "t")}
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


def mnist1d(seed: int, num_samples: int = 5000, train_split: float = 0.8, template_len: int = 12,
            padding=(36, 60), scale_coeff: float = 0.4, max_translation: int = 48, corr_noise_scale: float = 0.25,
            iid_noise_scale: float = 2e-2, shear_scale: float = 0.75, shuffle_seq: bool = False,
            final_seq_length: int = 40, data_seed: int = 42, val_fraction: float = 0.1,
            train_fraction: float = 1.0, n_train: int | None = None, standardize: str = "none") -> DataSplits:
    """MNIST-1D with the generator's arguments; ``data_seed`` draws the signals (42: the paper's data), ``seed``
    (the run's) carves val (``val_fraction`` of the official train split) and any ``train_fraction``/``n_train``
    subset. ``standardize: none`` by default: the generator already centres the signals and scales them to std 1."""
    d = generate(num_samples, train_split, template_len, padding, scale_coeff, max_translation, corr_noise_scale,
                 iid_noise_scale, shear_scale, shuffle_seq, final_seq_length, data_seed)
    x = np.concatenate([d["x"], d["x_test"]]).astype(np.float32)
    y = np.concatenate([d["y"], d["y_test"]]).astype(np.int64)
    if not 0 <= float(val_fraction) < 1:
        raise NnmlError(f"dataset.val_fraction={val_fraction} is not valid; choose a number in [0, 1)")
    n_official_train = len(d["x"])
    return split_and_standardize(
        "mnist1d", x, y, "classification", seed=seed, val_fraction=float(val_fraction) * n_official_train / len(x),
        test_fraction=0.0, input_shape=(1, x.shape[1]), class_names=[str(i) for i in range(10)],
        standardize=standardize, fixed_test_rows=len(d["x_test"]), train_fraction=train_fraction, n_train=n_train,
    )
