"""Padded, length-bucketed batches of a whole text corpus held as tensors in memory.

Sequences are stored once, right-padded to the corpus' longest, on the training device. An epoch cuts a seeded
permutation into chunks of ``bucket`` batches, sorts each chunk by length and slices it into batches (so a batch
holds sequences of similar length and padding stays small), then shuffles the batch order. Every batch is trimmed
to its own longest sequence. Evaluation batches are sorted by length over the whole split and carry ``index``
(the row in the split) so results can be put back in order. The order of epoch ``e`` depends only on
``(seed, e)``: a resumed run sees the same batches.
"""

from __future__ import annotations

import math

import torch

from nnml.data.batches import epoch_generator
from nnml.tasks.text.tokenizers import PAD_ID


def pad(seqs: list[list[int]], value: int = PAD_ID, length: int | None = None) -> torch.Tensor:
    """Right-pad lists of ids into a (N, L) long tensor."""
    n = max((len(s) for s in seqs), default=0) if length is None else length
    out = torch.full((len(seqs), max(n, 1)), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            out[i, : len(s)] = torch.as_tensor(s[:n], dtype=torch.long)
    return out


class BucketBatches:
    """A batch source over ``fields`` (name -> (N, L) padded or (N,) tensors).

    ``lengths`` (N,) sorts the buckets; ``trim`` maps a padded field to the name of its length field (each batch's
    field is cut to that field's longest length in the batch). ``as_tuple`` names fields to yield as a tuple
    (e.g. ``("x", "y")`` for the supervised task) instead of a dict."""

    #: batches differ in sequence length, so cuDNN's per-shape autotuner stays off (engine.device)
    varying_shapes = True

    def __init__(self, fields: dict[str, torch.Tensor], lengths: torch.Tensor, *, batch_size: int, shuffle: bool,
                 seed: int, device, trim: dict[str, str] | None = None, bucket: int = 50,
                 as_tuple: tuple[str, ...] | None = None):
        self.fields = {k: v.to(device) for k, v in fields.items()}
        self.fields.setdefault("index", torch.arange(len(lengths), device=device))
        self.lengths = lengths.cpu()
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.trim = dict(trim or {})
        self.bucket = bucket
        self.as_tuple = as_tuple

    @property
    def num_samples(self) -> int:
        return len(self.lengths)

    def _batches(self, epoch: int) -> list[torch.Tensor]:
        n, bs = len(self.lengths), self.batch_size
        if not self.shuffle:
            order = torch.sort(self.lengths, stable=True).indices
            return [order[i : i + bs] for i in range(0, n, bs)]
        g = epoch_generator(self.seed, epoch)
        perm = torch.randperm(n, generator=g)
        out = []
        chunk = bs * self.bucket
        for c in range(0, n, chunk):
            idx = perm[c : c + chunk]
            idx = idx[torch.sort(self.lengths[idx], stable=True).indices]
            out.extend(idx[i : i + bs] for i in range(0, len(idx), bs))
        shuffled = torch.randperm(len(out), generator=g).tolist()
        return [out[i] for i in shuffled]

    def epoch(self, epoch: int, start_batch: int = 0, shard: tuple[int, int] = (0, 1)):
        """Batches of ``epoch`` from ``start_batch`` on. ``shard=(rank, world)``: every world-th batch; training
        drops the last ``len % world`` batches so every DDP rank takes the same number of steps."""
        batches = self._batches(epoch)
        rank, world = shard
        if world > 1:
            if self.shuffle:
                batches = batches[: len(batches) - len(batches) % world]
            batches = batches[rank::world]
        dev = self.fields["index"].device
        for ix in batches[start_batch:]:
            ix = ix.to(dev)
            b = {k: v[ix] for k, v in self.fields.items()}
            for name, len_name in self.trim.items():
                b[name] = b[name][:, : max(int(b[len_name].max()), 1)]
            yield tuple(b[k] for k in self.as_tuple) if self.as_tuple else b

    def batches_per_epoch(self, world: int = 1) -> int:
        n, bs = len(self.lengths), self.batch_size
        if not self.shuffle:
            total = math.ceil(n / bs)
            return math.ceil(total / world)
        chunk = bs * self.bucket
        total = sum(math.ceil(min(chunk, n - c) / bs) for c in range(0, n, chunk))
        return total // world if world > 1 else total
