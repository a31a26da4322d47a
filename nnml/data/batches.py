"""Batch sources for the loop.

In memory (the default whenever the data fits): the tensors are moved to the training device once and each batch is a
slice of a per-epoch permutation (~10 us a batch against ~400 us for ``DataLoader(TensorDataset)`` at batch 128).
Otherwise a DataLoader with workers, pinned memory and non-blocking copies. Either way the order of epoch ``e`` depends
only on ``(seed, e)``, so a resumed run sees the same batches as an uninterrupted one.

A source holds a tuple (``(x, y)``, ``(x,)``, ``(src, tgt, lengths)``) or a dict of equal-length tensors and yields
batches of the same structure. Any object with ``epoch(epoch, start_batch, shard)``, ``batches_per_epoch(world)``
and ``num_samples`` is a batch source for the loop (a task may bring its own, e.g. length-bucketed text).
"""

from __future__ import annotations

import math

import torch

from nnml.errors import NnmlError

# Above this many bytes of training data on a CUDA device, "auto" streams through a DataLoader instead.
IN_MEMORY_LIMIT_BYTES = 2 * 1024**3


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # A fresh generator per epoch: the data order state of a checkpoint is just the epoch number.
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def _gather(tensors: tuple):
    """``(x, y)`` given as separate arguments or as one tuple/list/dict."""
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list, dict)):
        return tensors[0]
    return tensors


def _as_structure(tensors):
    """(keys or None, list of tensors): a dict keeps its keys, a tuple/list its order; None entries are dropped
    (unlabeled data: ``(x, None)`` becomes ``(x,)``)."""
    if isinstance(tensors, dict):
        keys = [k for k, v in tensors.items() if v is not None]
        return keys, [tensors[k] for k in keys]
    items = [t for t in tensors if t is not None]
    if not items:
        raise NnmlError("a batch source needs at least one tensor")
    n = len(items[0])
    if any(len(t) != n for t in items):
        raise NnmlError(f"the tensors of a batch source differ in length: {[len(t) for t in items]}")
    return None, items


class InMemoryBatches:
    """Shuffled (or ordered) slices of tensors that already live on the training device."""

    def __init__(self, *tensors, batch_size: int, shuffle: bool, seed: int, device):
        self.keys, items = _as_structure(_gather(tensors))
        self.tensors = [t.to(device) for t in items]
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self._n = len(self.tensors[0])
        self._device = self.tensors[0].device

    # the first two tensors as x and y (code and tests that read them)
    @property
    def x(self) -> torch.Tensor:
        return self.tensors[0]

    @property
    def y(self) -> torch.Tensor | None:
        return self.tensors[1] if len(self.tensors) > 1 else None

    def __len__(self) -> int:
        return math.ceil(self._n / self.batch_size)

    @property
    def num_samples(self) -> int:
        return self._n

    def _pack(self, parts):
        return dict(zip(self.keys, parts)) if self.keys is not None else tuple(parts)

    def epoch(self, epoch: int, start_batch: int = 0, shard: tuple[int, int] = (0, 1)):
        """Yield the batches of ``epoch`` from ``start_batch`` on; ``shard=(rank, world)`` keeps every world-th sample.

        Shuffled (training) shards are cut to the same length on every rank, dropping the epoch's last
        ``n % world`` samples (different ones each epoch): DDP ranks must take the same number of steps. Ordered
        (evaluation) shards keep every sample once, so summed metrics equal the whole split's."""
        n = self._n
        if self.shuffle:
            order = torch.randperm(n, generator=epoch_generator(self.seed, epoch)).to(self._device, non_blocking=True)
        else:
            order = None
        rank, world = shard
        if world > 1:
            order = order[: n - n % world] if order is not None else torch.arange(n, device=self._device)
            order = order[rank::world]
            n = len(order)
        bs = self.batch_size
        ts = self.tensors
        if len(ts) == 2 and self.keys is None:  # the common (x, y) case without the generic packing (hot path)
            x, y = ts
            for i in range(start_batch * bs, n, bs):
                if order is None:
                    yield x[i : i + bs], y[i : i + bs]
                else:
                    ix = order[i : i + bs]
                    yield x[ix], y[ix]
            return
        for i in range(start_batch * bs, n, bs):
            if order is None:
                yield self._pack([t[i : i + bs] for t in ts])
            else:
                ix = order[i : i + bs]
                yield self._pack([t[ix] for t in ts])

    def batches_per_epoch(self, world: int = 1) -> int:
        return math.ceil(_shard_len(self._n, world, self.shuffle) / self.batch_size)


def _shard_len(n: int, world: int, shuffle: bool) -> int:
    return n // world if shuffle else math.ceil(n / world)


class LoaderBatches:
    """A DataLoader over CPU tensors with workers and pinned memory; batches copied to the device without blocking.

    ``dataset``: a map-style torch Dataset whose items are tuples of tensors, in place of the tensors (data that
    is read per item, e.g. images decoded from files by the workers)."""

    def __init__(self, *tensors, batch_size: int, shuffle: bool, seed: int, device, num_workers: int = 2,
                 pin_memory: bool = True, dataset=None):
        if dataset is None:
            self.keys, items = _as_structure(_gather(tensors))
            dataset = torch.utils.data.TensorDataset(*items)
        else:
            self.keys = None
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.device = torch.device(device)
        self.num_workers = num_workers
        self.pin_memory = pin_memory and self.device.type == "cuda"

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self.dataset)

    def batches_per_epoch(self, world: int = 1) -> int:
        return math.ceil(_shard_len(len(self.dataset), world, self.shuffle) / self.batch_size)

    def epoch(self, epoch: int, start_batch: int = 0, shard: tuple[int, int] = (0, 1)):
        n = len(self.dataset)
        if self.shuffle:
            order = torch.randperm(n, generator=epoch_generator(self.seed, epoch))
        else:
            order = torch.arange(n)
        rank, world = shard
        if self.shuffle and world > 1:
            order = order[: n - n % world]  # equal shards for DDP, as in InMemoryBatches.epoch
        order = order[rank::world][start_batch * self.batch_size :]
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(self.dataset, order.tolist()), batch_size=self.batch_size, shuffle=False,
            num_workers=self.num_workers, pin_memory=self.pin_memory, persistent_workers=False,
        )
        for parts in loader:
            parts = [t.to(self.device, non_blocking=True) for t in parts]
            yield dict(zip(self.keys, parts)) if self.keys is not None else tuple(parts)


def make_batches(*tensors, batch_size: int, shuffle: bool, seed: int, device, loader: str = "auto",
                 num_workers: int = 2, pin_memory: bool = True):
    """The batch source for one split: ``loader`` is ``auto`` (in memory unless the data is too large for a CUDA
    device), ``memory`` or ``dataloader``."""
    tensors = _gather(tensors)
    if loader == "auto":
        _, items = _as_structure(tensors)
        size = sum(t.element_size() * t.nelement() for t in items)
        big = torch.device(device).type == "cuda" and size > IN_MEMORY_LIMIT_BYTES
        loader = "dataloader" if big else "memory"
    if loader == "memory":
        return InMemoryBatches(tensors, batch_size=batch_size, shuffle=shuffle, seed=seed, device=device)
    if loader == "dataloader":
        return LoaderBatches(tensors, batch_size=batch_size, shuffle=shuffle, seed=seed, device=device,
                             num_workers=num_workers, pin_memory=pin_memory)
    raise NnmlError(f"dataset.loader={loader} is not valid; choose one of: auto, dataloader, memory")


def limited_count(available: int, limit) -> int:
    """How many of ``available`` batches ``limit`` keeps: None all, an int that many, a float in (0, 1] that
    fraction of them (at least one)."""
    if limit is None:
        return available
    if isinstance(limit, float):
        return min(available, max(1, int(available * limit)))
    return min(available, int(limit))


class LimitedBatches:
    """The first batches of another batch source in each epoch (``trainer.limit_train_batches`` and friends,
    ``debug=limit``, ``debug=fast``): ``limit`` as in :func:`limited_count`. ``fixed``: the same batches every epoch,
    those of epoch 0 (``trainer.overfit_batches``, ``debug=overfit``: a small set to fit perfectly)."""

    def __init__(self, source, limit, fixed: bool = False):
        self.source, self.limit, self.fixed = source, limit, fixed
        self.varying_shapes = getattr(source, "varying_shapes", False)

    def batches_per_epoch(self, world: int = 1) -> int:
        return limited_count(self.source.batches_per_epoch(world), self.limit)

    @property
    def num_samples(self) -> int:
        full = self.source.batches_per_epoch(1)
        return min(self.source.num_samples, math.ceil(self.source.num_samples * self.batches_per_epoch(1) / full))

    def __len__(self) -> int:
        return self.batches_per_epoch(1)

    def epoch(self, epoch: int, start_batch: int = 0, shard: tuple[int, int] = (0, 1)):
        keep = self.batches_per_epoch(shard[1]) - start_batch
        if keep <= 0:
            return
        for i, batch in enumerate(self.source.epoch(0 if self.fixed else epoch, start_batch=start_batch,
                                                    shard=shard)):
            yield batch
            if i + 1 >= keep:
                return


def limit_batches(source, limit, fixed: bool = False):
    """``source`` limited (see :class:`LimitedBatches`), or itself when nothing is limited. A source built later
    (a callable: the test split is built when first asked) is limited once built."""
    if limit is None and not fixed:
        return source
    if callable(source) and not hasattr(source, "epoch"):
        return lambda: limit_batches(source(), limit, fixed)
    return LimitedBatches(source, limit, fixed)
