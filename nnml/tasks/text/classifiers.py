"""Text classifiers over padded token ids (B, L): bag of embeddings, a 1-D CNN, a (bi)GRU/LSTM with pooling and a
small Transformer encoder. Each finds its padding mask from ``pad_id``; ``vocab_size``, ``pad_id`` and
``num_outputs`` come from the data.
"""

from __future__ import annotations

import torch
from torch import nn

from nnml.errors import bad_choice
from nnml.tasks.text.seq2seq import PositionalEncoding

POOLS = ("max", "mean", "last")


def masked_pool(h: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """Pool (B, L, D) over the real positions of ``mask`` (B, L)."""
    m = mask[..., None].to(h.dtype)
    if how == "mean":
        return (h * m).sum(1) / m.sum(1).clamp(min=1)
    if how == "max":
        return h.masked_fill(~mask[..., None], float("-inf")).amax(1).nan_to_num(0.0, neginf=0.0)
    if how == "last":
        last = (mask.sum(1) - 1).clamp(min=0)
        return h[torch.arange(h.shape[0], device=h.device), last]
    raise bad_choice("model.pooling", how, POOLS)


class BagOfEmbeddings(nn.Module):
    """Mean of token embeddings (fastText-style): ``ngrams > 1`` adds hashed n-grams of ids into ``buckets`` extra
    embeddings, so a character model sees character bigrams and trigrams, like the TF-IDF baseline does."""

    def __init__(self, vocab_size: int, num_outputs: int, pad_id: int = 0, dim: int = 64, ngrams: int = 1,
                 buckets: int = 20000, head_hidden: int = 0, dropout: float = 0.0):
        super().__init__()
        self.pad_id, self.ngrams, self.buckets, self.vocab = pad_id, ngrams, buckets, vocab_size
        self.emb = nn.Embedding(vocab_size + (buckets if ngrams > 1 else 0), dim)
        head = [nn.Dropout(dropout)]
        head += ([nn.Linear(dim, head_hidden), nn.ReLU(), nn.Linear(head_hidden, num_outputs)] if head_hidden
                 else [nn.Linear(dim, num_outputs)])
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = x != self.pad_id
        ids, masks = [x], [mask]
        h = x
        for n in range(2, self.ngrams + 1):
            # Polynomial hash of n consecutive ids; an n-gram is real only when all its tokens are.
            h = h[:, :-1] * 1_000_003 + x[:, n - 1 :]
            ids.append(self.vocab + h % self.buckets)
            masks.append(masks[-1][:, :-1] & mask[:, n - 1 :])
        ids, mask = torch.cat(ids, 1), torch.cat(masks, 1)
        return self.head(masked_pool(self.emb(ids), mask, "mean"))


class ConvText(nn.Module):
    """Kim (2014): parallel 1-D convolutions of several widths, max-pooled over time."""

    def __init__(self, vocab_size: int, num_outputs: int, pad_id: int = 0, dim: int = 64, channels: int = 64,
                 kernel_sizes=(3, 4, 5), dropout: float = 0.3):
        super().__init__()
        self.pad_id = pad_id
        self.emb = nn.Embedding(vocab_size, dim, padding_idx=pad_id)
        self.convs = nn.ModuleList(nn.Conv1d(dim, channels, k, padding=k // 2) for k in kernel_sizes)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(channels * len(kernel_sizes), num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = x != self.pad_id
        e = self.emb(x).transpose(1, 2)
        pooled = [masked_pool(torch.relu(c(e))[:, :, : x.shape[1]].transpose(1, 2), mask, "max") for c in self.convs]
        return self.head(self.drop(torch.cat(pooled, -1)))


class RNNText(nn.Module):
    """A (bi)GRU or LSTM over packed sequences, pooled (max, mean, or the last real step's output)."""

    def __init__(self, vocab_size: int, num_outputs: int, pad_id: int = 0, dim: int = 64, hidden: int = 128,
                 cell: str = "gru", bidirectional: bool = True, layers: int = 1, pooling: str = "max",
                 dropout: float = 0.2):
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise bad_choice("model.cell", cell, ("gru", "lstm"))
        if pooling not in POOLS:
            raise bad_choice("model.pooling", pooling, POOLS)
        self.pad_id, self.pooling = pad_id, pooling
        self.emb = nn.Embedding(vocab_size, dim, padding_idx=pad_id)
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(dim, hidden, layers, batch_first=True, bidirectional=bidirectional,
                       dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = x != self.pad_id
        packed = nn.utils.rnn.pack_padded_sequence(self.drop(self.emb(x)), mask.sum(1).clamp(min=1).cpu(),
                                                   batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.head(self.drop(masked_pool(out, mask, self.pooling)))


class TransformerText(nn.Module):
    """``torch.nn.TransformerEncoder`` over embeddings with sinusoidal positions and a padding mask, mean-pooled."""

    def __init__(self, vocab_size: int, num_outputs: int, pad_id: int = 0, d_model: int = 64, nhead: int = 4,
                 layers: int = 2, dim_feedforward: int = 128, dropout: float = 0.1, max_positions: int = 1024):
        super().__init__()
        self.pad_id = pad_id
        self.emb = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.pos = PositionalEncoding(d_model, max_positions)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, num_outputs)
        self.max_positions = max_positions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, : self.max_positions]  # longer inputs are cut to the positions the model knows
        mask = x != self.pad_id
        h = self.encoder(self.drop(self.pos(self.emb(x) * self.emb.embedding_dim**0.5)), src_key_padding_mask=~mask)
        return self.head(self.drop(masked_pool(h, mask, "mean")))
