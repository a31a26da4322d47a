"""Batch sources for the loop.

In memory (the default whenever the data fits): the tensors are moved to the training device once and each batch is a
slice of a per-epoch permutation (~10 us a batch against ~400 us for ``DataLoader(TensorDataset)`` at batch 128).
Otherwise a DataLoader with workers, pinned memory and non-blocking copies. Either way the order of epoch ``e`` depends
only on ``(seed, e)``, so a resumed run sees the same batches as an uninterrupted one.
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


class InMemoryBatches:
    """Shuffled (or ordered) slices of tensors that already live on the training device."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool, seed: int, device):
        self.x = x.to(device)
        self.y = y.to(device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self.y)

    def epoch(self, epoch: int, start_batch: int = 0, shard: tuple[int, int] = (0, 1)):
        """Yield the batches of ``epoch`` from ``start_batch`` on; ``shard=(rank, world)`` keeps every world-th sample.

        Shuffled (training) shards are cut to the same length on every rank, dropping the epoch's last
        ``n % world`` samples (different ones each epoch): DDP ranks must take the same number of steps. Ordered
        (evaluation) shards keep every sample once, so summed metrics equal the whole split's."""
        n = len(self.y)
        if self.shuffle:
            order = torch.randperm(n, generator=epoch_generator(self.seed, epoch)).to(self.x.device, non_blocking=True)
        else:
            order = None
        rank, world = shard
        if world > 1:
            order = order[: n - n % world] if order is not None else torch.arange(n, device=self.x.device)
            order = order[rank::world]
            n = len(order)
        bs = self.batch_size
        for i in range(start_batch * bs, n, bs):
            if order is None:
                yield self.x[i : i + bs], self.y[i : i + bs]
            else:
                ix = order[i : i + bs]
                yield self.x[ix], self.y[ix]

    def batches_per_epoch(self, world: int = 1) -> int:
        return math.ceil(_shard_len(len(self.y), world, self.shuffle) / self.batch_size)


def _shard_len(n: int, world: int, shuffle: bool) -> int:
    return n // world if shuffle else math.ceil(n / world)


class LoaderBatches:
    """A DataLoader over CPU tensors with workers and pinned memory; batches copied to the device without blocking."""

    def __init__(self, x, y, batch_size: int, shuffle: bool, seed: int, device, num_workers: int = 2, pin_memory: bool = True):
        self.dataset = torch.utils.data.TensorDataset(x, y)
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
        for xb, yb in loader:
            yield xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)


def make_batches(x, y, *, batch_size: int, shuffle: bool, seed: int, device, loader: str = "auto",
                 num_workers: int = 2, pin_memory: bool = True):
    """The batch source for one split: ``loader`` is ``auto`` (in memory unless the data is too large for a CUDA
    device), ``memory`` or ``dataloader``."""
    if loader == "auto":
        big = torch.device(device).type == "cuda" and x.element_size() * x.nelement() > IN_MEMORY_LIMIT_BYTES
        loader = "dataloader" if big else "memory"
    if loader == "memory":
        return InMemoryBatches(x, y, batch_size, shuffle, seed, device)
    if loader == "dataloader":
        return LoaderBatches(x, y, batch_size, shuffle, seed, device, num_workers, pin_memory)
    raise NnmlError(f"dataset.loader={loader} is not valid; choose one of: auto, dataloader, memory")
