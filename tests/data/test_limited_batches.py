"""trainer.limit_*_batches and overfit_batches: the first batches of any batch source, by count or fraction, the
same ones every epoch when fixed; resumable mid-epoch and sharded as the source is."""

from __future__ import annotations

import torch

from nnml.data.batches import LimitedBatches, limit_batches, limited_count, make_batches


def _source(n=100, bs=10, shuffle=True):
    x = torch.arange(n).float().unsqueeze(1)
    return make_batches((x, torch.arange(n)), batch_size=bs, shuffle=shuffle, seed=3, device="cpu")


def test_counts_and_fractions():
    assert limited_count(10, None) == 10
    assert limited_count(10, 3) == 3 and limited_count(10, 30) == 10
    assert limited_count(10, 0.25) == 2 and limited_count(10, 0.01) == 1 and limited_count(10, 1.0) == 10


def test_the_first_batches_of_each_epoch():
    src = _source()
    lim = LimitedBatches(src, 3)
    assert lim.batches_per_epoch() == 3 and len(list(lim.epoch(0))) == 3
    for e in (0, 1):
        got = [y.tolist() for _, y in lim.epoch(e)]
        want = [y.tolist() for _, y in src.epoch(e)][:3]
        assert got == want
    assert [y.tolist() for _, y in lim.epoch(0)] != [y.tolist() for _, y in lim.epoch(1)]  # shuffled per epoch
    # resumed mid-epoch: the rest of the same 3 batches
    assert [y.tolist() for _, y in lim.epoch(1, start_batch=2)] == [y.tolist() for _, y in lim.epoch(1)][2:]
    assert list(lim.epoch(1, start_batch=3)) == []


def test_fixed_batches_are_the_same_every_epoch():
    lim = LimitedBatches(_source(), 4, fixed=True)
    first = [y.tolist() for _, y in lim.epoch(0)]
    assert all([y.tolist() for _, y in lim.epoch(e)] == first for e in (1, 5))


def test_shards_are_limited_per_rank():
    lim = LimitedBatches(_source(), 0.5)
    assert lim.batches_per_epoch(2) == 2  # 50 samples a rank, 5 batches, half of them
    assert len(list(lim.epoch(0, shard=(1, 2)))) == 2


def test_nothing_limited_is_the_source_itself_and_a_lazy_source_stays_lazy():
    src = _source()
    assert limit_batches(src, None) is src
    built = []
    lazy = limit_batches(lambda: built.append(1) or _source(shuffle=False), 2)
    assert callable(lazy) and not built
    assert lazy().batches_per_epoch() == 2 and built == [1]
