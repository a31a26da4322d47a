"""Datasets: splits, standardization with train statistics only, seeding, the IDX reader and its checks."""

import gzip

import numpy as np
import pytest
import torch

from nnml.data import idx
from nnml.data.batches import InMemoryBatches, make_batches
from nnml.data.sklearn_sets import diabetes, digits
from nnml.data.synthetic import function, moons, spirals, xor
from nnml.errors import NnmlError
from tests.conftest import write_idx


def test_digits_splits_are_disjoint_stratified_and_standardized_on_train():
    d = digits(seed=0)
    assert d.task == "classification" and d.input_shape == (1, 8, 8) and d.num_outputs == 10
    assert sum(d.sizes().values()) == 1797
    assert d.sizes()["test"] == round(0.2 * 1797)
    flat = d.x_train.reshape(len(d.x_train), -1)
    varying = flat.std(0) > 0
    # Train features standardized with train statistics: mean 0, std 1 on train (not on test).
    assert torch.allclose(flat.mean(0), torch.zeros(64), atol=1e-5)
    assert torch.allclose(flat[:, varying].std(0, unbiased=False), torch.ones(int(varying.sum())), atol=1e-4)
    # Stratified: every class in every split, class shares within 2 points of each other.
    for split in ("train", "val", "test"):
        counts = torch.bincount(d.split(split)[1], minlength=10).float()
        assert (counts > 0).all()
        share = counts / counts.sum()
        assert (share.max() - share.min()) < 0.05
    # Rows are disjoint: no test image appears in train.
    tr = {tuple(r.tolist()) for r in d.x_train.reshape(len(d.x_train), -1)}
    assert not any(tuple(r.tolist()) in tr for r in d.x_test.reshape(len(d.x_test), -1)[:50] if r.abs().sum() > 0)


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = moons(seed=1), moons(seed=1), moons(seed=2)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train[:20], c.x_train[:20])


def test_regression_targets_standardized_with_train_stats():
    d = diabetes(seed=0)
    assert d.task == "regression" and d.num_outputs == 1 and d.y_train.shape[1] == 1
    assert abs(float(d.y_train.mean())) < 1e-5 and abs(float(d.y_train.std(unbiased=False)) - 1) < 1e-4


@pytest.mark.parametrize("target", ["sin", "abs", "step", "polynomial"])
def test_function_targets(target):
    d = function(seed=0, target=target, n_samples=200)
    assert d.input_shape == (1,) and d.task == "regression"


def test_function_unknown_target_names_choices():
    with pytest.raises(NnmlError, match=r"dataset.target=cos .*choose one of: abs, polynomial, sin, step"):
        function(seed=0, target="cos")


def test_xor_and_spirals_are_balanced_two_class():
    for d in (xor(seed=0), spirals(seed=0, classes=3)):
        y = torch.cat([d.y_train, d.y_val, d.y_test])
        counts = torch.bincount(y)
        assert counts.min() > 0.25 * counts.max()


def test_in_memory_batches_cover_each_sample_once_and_order_depends_on_seed_and_epoch():
    x = torch.arange(100).float().unsqueeze(1)
    y = torch.arange(100)
    b = InMemoryBatches(x, y, batch_size=32, shuffle=True, seed=3, device="cpu")
    e0 = torch.cat([yb for _, yb in b.epoch(0)])
    assert sorted(e0.tolist()) == list(range(100)) and len(list(b.epoch(0))) == 4
    assert torch.equal(e0, torch.cat([yb for _, yb in b.epoch(0)]))
    assert not torch.equal(e0, torch.cat([yb for _, yb in b.epoch(1)]))
    # Resuming mid-epoch yields exactly the remaining batches of that epoch.
    rest = torch.cat([yb for _, yb in b.epoch(0, start_batch=2)])
    assert torch.equal(rest, e0[64:])
    # Two shards of a DDP run partition the epoch.
    s0 = torch.cat([yb for _, yb in b.epoch(0, shard=(0, 2))])
    s1 = torch.cat([yb for _, yb in b.epoch(0, shard=(1, 2))])
    assert sorted(torch.cat([s0, s1]).tolist()) == list(range(100))


def test_dataloader_source_gives_the_same_batches_as_memory():
    x = torch.randn(50, 3)
    y = torch.randint(0, 2, (50,))
    mem = make_batches(x, y, batch_size=8, shuffle=True, seed=1, device="cpu", loader="memory")
    dl = make_batches(x, y, batch_size=8, shuffle=True, seed=1, device="cpu", loader="dataloader", num_workers=0)
    for (xa, ya), (xb, yb) in zip(mem.epoch(2), dl.epoch(2)):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_idx_round_trip_gz_and_plain(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    for name in ("x-idx3-ubyte", "x-idx3-ubyte.gz"):
        write_idx(tmp_path / name, a)
        assert np.array_equal(idx.read_idx(tmp_path / name), a)


def test_idx_reader_refuses_bad_magic_and_short_body(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x09\x01" + b"\x00\x00\x00\x02" + b"ab")
    with pytest.raises(NnmlError, match="bad magic"):
        idx.read_idx(tmp_path / "bad")
    with gzip.open(tmp_path / "short.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"abc")
    with pytest.raises(NnmlError, match="header says"):
        idx.read_idx(tmp_path / "short.gz")


def test_mnist_from_local_idx_files_keeps_official_test_split(fake_mnist):
    d = idx.mnist(seed=0, root=str(fake_mnist), download=False, val_fraction=0.1)
    assert d.input_shape == (1, 28, 28) and d.num_outputs == 10
    assert d.sizes() == {"train": 180, "val": 20, "test": 50}
    raw_test = idx.read_idx(fake_mnist / "mnist" / idx.FILES[3])
    assert torch.equal(d.y_test, torch.as_tensor(raw_test.astype(np.int64)))


def test_mnist_checksum_mismatch_is_refused(fake_mnist, monkeypatch):
    monkeypatch.setitem(idx.SOURCES["mnist"]["md5"], idx.FILES[0], "0" * 32)
    with pytest.raises(NnmlError, match="MD5"):
        idx.mnist(seed=0, root=str(fake_mnist), download=False)


def test_mnist_missing_files_without_download(tmp_path):
    with pytest.raises(NnmlError, match="dataset.download=false"):
        idx.mnist(seed=0, root=str(tmp_path), download=False)


def test_mnist_download_uses_the_mirror_and_verifies(tmp_path, monkeypatch):
    """The real download path, fed from a local folder through a file:// mirror."""
    src = tmp_path / "mirror"
    src.mkdir()
    from tests.conftest import make_fake_mnist

    folder = make_fake_mnist(tmp_path / "made", "mnist")
    for f in idx.FILES:
        (src / f).write_bytes((folder / f).read_bytes())
    monkeypatch.setitem(idx.SOURCES["mnist"], "mirrors", ["file:///nonexistent/", src.as_uri() + "/"])
    monkeypatch.setitem(idx.SOURCES["mnist"], "md5", {f: idx.md5(folder / f) for f in idx.FILES})
    d = idx.mnist(seed=0, root=str(tmp_path / "dl"), download=True)
    assert d.sizes()["test"] == 50
    assert not list((tmp_path / "dl" / "mnist").glob("*.part"))
