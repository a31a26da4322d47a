"""Bucketed batches: each sample once per epoch, order fixed by (seed, epoch), less padding, shards, resume."""

import torch

from nnml.tasks.text.batches import BucketBatches, pad


def _source(shuffle=True, n=203, bs=8):
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 40, (n,), generator=g)
    x = pad([[5] * int(k) for k in lengths])
    return BucketBatches({"x": x, "x_len": lengths}, lengths, batch_size=bs, shuffle=shuffle, seed=7,
                         device="cpu", trim={"x": "x_len"}, bucket=5), lengths


def test_every_sample_once_and_trimmed():
    src, lengths = _source()
    seen = []
    for b in src.epoch(0):
        assert b["x"].shape[1] == int(b["x_len"].max())
        assert torch.equal((b["x"] != 0).sum(1), b["x_len"])
        seen += b["index"].tolist()
    assert sorted(seen) == list(range(len(lengths)))
    assert len(list(src.epoch(0))) == src.batches_per_epoch()


def test_order_is_fixed_by_seed_and_epoch_and_resumes():
    a, _ = _source()
    b, _ = _source()
    e1 = [x["index"].tolist() for x in a.epoch(1)]
    assert e1 == [x["index"].tolist() for x in b.epoch(1)]
    assert e1 != [x["index"].tolist() for x in a.epoch(2)]
    assert [x["index"].tolist() for x in a.epoch(1, start_batch=4)] == e1[4:]


def test_buckets_pad_less_than_random_batches():
    src, lengths = _source()
    bucketed = sum(b["x"].numel() for b in src.epoch(0))
    perm = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(0))
    plain = sum(int(lengths[perm[i : i + 8]].max()) * len(perm[i : i + 8]) for i in range(0, len(perm), 8))
    assert bucketed < 0.8 * plain


def test_shards():
    train, _ = _source()
    per_rank = [[i for b in train.epoch(0, shard=(r, 2)) for i in b["index"].tolist()] for r in range(2)]
    assert not set(per_rank[0]) & set(per_rank[1])
    assert len(list(train.epoch(0, shard=(0, 2)))) == len(list(train.epoch(0, shard=(1, 2)))) == train.batches_per_epoch(2)
    ev, lengths = _source(shuffle=False)
    both = [i for r in range(2) for b in ev.epoch(0, shard=(r, 2)) for i in b["index"].tolist()]
    assert sorted(both) == list(range(len(lengths)))
