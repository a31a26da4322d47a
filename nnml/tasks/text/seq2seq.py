"""Encoder-decoder translation models: a GRU with additive (Bahdanau) attention and ``torch.nn.Transformer``.

Both train with teacher forcing (``forward(src, tgt_in)`` gives logits for every target position from the gold
prefix) and decode through ``encode``/``step`` (see ``nnml.tasks.text.decode``). Vocabulary sizes and the padding id come
from the data (``src_vocab_size``, ``tgt_vocab_size``, ``pad_id``); ``step`` returns log-probabilities.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class BahdanauAttention(nn.Module):
    """score(q, k) = v . tanh(W_q q + W_k k) (Bahdanau et al., 2015), masked where the source is padding."""

    def __init__(self, query_dim: int, key_dim: int, dim: int):
        super().__init__()
        self.q = nn.Linear(query_dim, dim, bias=False)
        self.k = nn.Linear(key_dim, dim)
        self.v = nn.Linear(dim, 1, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.k(memory)  # computed once per source, reused at every decoding step

    def forward(self, query, keys, memory, mask):
        scores = self.v(torch.tanh(self.q(query)[:, None, :] + keys)).squeeze(-1)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, -1)
        return torch.bmm(weights[:, None, :], memory).squeeze(1), weights


class GRUSeq2Seq(nn.Module):
    """Bidirectional GRU encoder, GRU-cell decoder fed the previous token and the attention context."""

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, pad_id: int = 0, emb_dim: int = 64,
                 hidden: int = 128, attention_dim: int = 64, dropout: float = 0.1):
        super().__init__()
        self.pad_id = pad_id
        self.src_emb = nn.Embedding(src_vocab_size, emb_dim, padding_idx=pad_id)
        self.tgt_emb = nn.Embedding(tgt_vocab_size, emb_dim, padding_idx=pad_id)
        self.encoder = nn.GRU(emb_dim, hidden, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * hidden, hidden)
        self.attention = BahdanauAttention(hidden, 2 * hidden, attention_dim)
        self.cell = nn.GRUCell(emb_dim + 2 * hidden, hidden)
        self.out = nn.Linear(hidden + 2 * hidden + emb_dim, tgt_vocab_size)
        self.drop = nn.Dropout(dropout)

    def encode(self, src: torch.Tensor) -> dict:
        mask = src != self.pad_id
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.drop(self.src_emb(src)), lengths, batch_first=True,
                                                   enforce_sorted=False)
        out, h = self.encoder(packed)
        memory, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        hidden = torch.tanh(self.bridge(torch.cat([h[0], h[1]], -1)))
        return {"memory": memory, "keys": self.attention.keys(memory), "mask": mask, "hidden": hidden}

    def _step(self, state: dict, y: torch.Tensor):
        e = self.drop(self.tgt_emb(y))
        context, weights = self.attention(state["hidden"], state["keys"], state["memory"], state["mask"])
        h = self.cell(torch.cat([e, context], -1), state["hidden"])
        logits = self.out(self.drop(torch.cat([h, context, e], -1)))
        return logits, {**state, "hidden": h}, weights

    def step(self, state: dict, ys: torch.Tensor):
        logits, state, weights = self._step(state, ys[:, -1])
        return F.log_softmax(logits.float(), -1), state, weights

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        state = self.encode(src)
        logits = []
        for t in range(tgt_in.shape[1]):  # teacher forcing: the gold previous token, not the model's own
            lg, state, _ = self._step(state, tgt_in[:, t])
            logits.append(lg)
        return torch.stack(logits, 1)


class PositionalEncoding(nn.Module):
    """Sinusoidal positions (Vaswani et al., 2017) added to scaled embeddings."""

    def __init__(self, dim: int, max_len: int = 1024):
        super().__init__()
        pos = torch.arange(max_len)[:, None]
        div = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
        pe = torch.zeros(max_len, dim)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)[:, : dim // 2]
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pe[: x.shape[1]]


class TransformerSeq2Seq(nn.Module):
    """``torch.nn.Transformer`` with token embeddings, sinusoidal positions, padding and causal masks."""

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, pad_id: int = 0, d_model: int = 128,
                 nhead: int = 4, num_encoder_layers: int = 2, num_decoder_layers: int = 2,
                 dim_feedforward: int = 256, dropout: float = 0.1, max_positions: int = 1024):
        super().__init__()
        self.pad_id = pad_id
        self.scale = math.sqrt(d_model)
        self.src_emb = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_id)
        self.tgt_emb = nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_id)
        self.pos = PositionalEncoding(d_model, max_positions)
        self.drop = nn.Dropout(dropout)
        self.transformer = nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward,
                                          dropout, batch_first=True)
        # Nested tensors (a prototype fast path for padded batches) would warn on every evaluation.
        self.transformer.encoder.enable_nested_tensor = self.transformer.encoder.use_nested_tensor = False
        self.out = nn.Linear(d_model, tgt_vocab_size)

    def encode(self, src: torch.Tensor) -> dict:
        pad_mask = src == self.pad_id
        x = self.drop(self.pos(self.src_emb(src) * self.scale))
        memory = self.transformer.encoder(x, src_key_padding_mask=pad_mask)
        return {"memory": memory, "pad_mask": pad_mask}

    def _decode(self, state: dict, ys: torch.Tensor) -> torch.Tensor:
        t = ys.shape[1]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=ys.device), 1)  # True: may not attend
        y = self.drop(self.pos(self.tgt_emb(ys) * self.scale))
        h = self.transformer.decoder(y, state["memory"], tgt_mask=causal, tgt_key_padding_mask=ys == self.pad_id,
                                     memory_key_padding_mask=state["pad_mask"])
        return self.out(h)

    def step(self, state: dict, ys: torch.Tensor):
        # The whole prefix again at each step (no key/value cache): targets here are short.
        return F.log_softmax(self._decode(state, ys)[:, -1].float(), -1), state, None

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self._decode(self.encode(src), tgt_in)
