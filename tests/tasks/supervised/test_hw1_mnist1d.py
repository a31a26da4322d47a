"""dataset=mnist1d against the mnist1d package itself: the official test split kept, val carved from train,
subsets stratified, the generator's keys passed through, no network and no trace on the global RNGs."""

import random

import numpy as np
import pytest
import torch

from nnml.data.mnist1d import generate, mnist1d
from nnml.errors import NnmlError

SMALL = dict(num_samples=1000)  # 800 train / 200 test, well under a second to generate


def _package(**overrides):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    for k, v in overrides.items():
        setattr(args, k, v)
    return make_dataset(args)


def _rows(t):
    return {tuple(np.round(r, 5)) for r in t.reshape(len(t), -1).tolist()}


def test_splits_match_the_package_official_test_kept_val_from_train():
    ref = _package(num_samples=1000)
    d = mnist1d(seed=0, val_fraction=0.1, **SMALL)
    assert d.task == "classification" and d.input_shape == (1, 40) and d.num_outputs == 10
    assert d.sizes() == {"train": 720, "val": 80, "test": 200}
    # The test split is the package's x_test, row for row; train + val together are its x (as a set).
    assert np.allclose(d.x_test[:, 0].numpy(), ref["x_test"], atol=1e-6)
    assert torch.equal(d.y_test, torch.as_tensor(ref["y_test"]))
    assert _rows(torch.cat([d.x_train, d.x_val])[:, 0].numpy()) == _rows(ref["x"].astype(np.float32))
    assert not (_rows(d.x_train[:, 0].numpy()) & _rows(d.x_val[:, 0].numpy()))
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64


def test_generator_keys_reach_the_package():
    ref = _package(num_samples=1000, shuffle_seq=True, iid_noise_scale=0.1, final_seq_length=30, seed=7)
    d = mnist1d(seed=0, shuffle_seq=True, iid_noise_scale=0.1, final_seq_length=30, data_seed=7, **SMALL)
    assert d.input_shape == (1, 30)
    assert np.allclose(d.x_test[:, 0].numpy(), ref["x_test"], atol=1e-6)
    plain = mnist1d(seed=0, **SMALL)
    assert not torch.allclose(plain.x_test[:, :, :30], d.x_test)


def test_train_fraction_and_n_train_shrink_train_only_stratified_and_seeded():
    full = mnist1d(seed=0, **SMALL)
    a = mnist1d(seed=0, n_train=100, **SMALL)
    b = mnist1d(seed=0, train_fraction=0.25, **SMALL)
    assert a.sizes() == {"train": 100, "val": 80, "test": 200}
    assert b.sizes()["train"] == 180 and b.sizes()["val"] == 80
    assert torch.equal(a.x_val, full.x_val) and torch.equal(a.x_test, full.x_test)
    # Stratified: each class keeps its share of the full train split, to rounding.
    share = torch.bincount(full.y_train, minlength=10).float() / len(full.y_train)
    assert (torch.bincount(a.y_train, minlength=10).float() - 100 * share).abs().max() <= 1.0
    assert _rows(a.x_train[:, 0].numpy()) <= _rows(full.x_train[:, 0].numpy())
    assert torch.equal(mnist1d(seed=0, n_train=100, **SMALL).x_train, a.x_train)
    assert not torch.equal(mnist1d(seed=1, n_train=100, **SMALL).x_train, a.x_train)


def test_train_fraction_works_for_other_datasets_through_the_shared_split():
    from nnml.data.base import split_and_standardize

    x = np.random.default_rng(0).normal(size=(400, 3))
    y = np.arange(400) % 4
    s = split_and_standardize("t", x, y, "classification", seed=0, val_fraction=0.1, test_fraction=0.1,
                              train_fraction=0.5)
    assert s.sizes() == {"train": 160, "val": 40, "test": 40}
    assert torch.bincount(s.y_train).tolist() == [40] * 4
    assert torch.allclose(s.x_train.mean(0), torch.zeros(3), atol=1e-5)  # statistics of the kept rows
    with pytest.raises(NnmlError, match="dataset.train_fraction=0"):
        split_and_standardize("t", x, y, "classification", seed=0, val_fraction=0.1, test_fraction=0.1,
                              train_fraction=0)
    with pytest.raises(NnmlError, match="dataset.n_train=-3"):
        mnist1d(seed=0, n_train=-3, **SMALL)


def test_no_network_and_global_rngs_untouched(monkeypatch):
    import mnist1d.data as package

    def refuse(*a, **k):
        raise AssertionError("mnist1d must be generated offline")

    monkeypatch.setattr(package, "get_dataset", refuse)
    monkeypatch.setattr(package.requests, "get", refuse)
    np.random.seed(123)
    random.seed(123)
    before_np, before_py = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    generate(num_samples=1000, data_seed=5)  # a new argument set: really generated, not cached
    assert np.random.random() == before_np and random.random() == before_py


def test_bad_keys_are_one_line_errors():
    with pytest.raises(NnmlError, match="dataset.padding"):
        mnist1d(seed=0, padding=[60, 36], **SMALL)
    with pytest.raises(NnmlError, match="dataset.val_fraction=1.5"):
        mnist1d(seed=0, val_fraction=1.5, **SMALL)
