"""Sequence taggers for NER: word embeddings (plus an optional character-level word encoder) into a BiLSTM, and
either a per-token softmax or a linear-chain CRF (Lample et al., 2016).

``forward(words, chars=None)`` gives emission scores (B, L, num_tags); ``loss(emissions, tags, mask)`` and
``decode(emissions, mask)`` (lists of tag ids per sentence) use the CRF when ``crf=true``. Sizes (``vocab_size``,
``num_tags``, ``char_vocab_size``, ``pad_id``) come from the data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CRF(nn.Module):
    """Linear-chain CRF: score(y) = start[y0] + sum emit[t, yt] + sum trans[y(t-1), yt] + end[y_last].

    ``nll`` is log Z - score(gold) by the forward algorithm; ``viterbi`` the best path by max-product. Both read
    ``mask`` (B, L) with every sentence left-aligned (its first ``length`` positions are real)."""

    def __init__(self, num_tags: int):
        super().__init__()
        self.trans = nn.Parameter(torch.zeros(num_tags, num_tags))
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))

    def score(self, emissions, tags, mask):
        b = torch.arange(emissions.shape[0], device=emissions.device)
        m = mask.float()
        s = self.start[tags[:, 0]] + emissions[b, 0, tags[:, 0]]
        for t in range(1, emissions.shape[1]):
            s = s + m[:, t] * (self.trans[tags[:, t - 1], tags[:, t]] + emissions[b, t, tags[:, t]])
        last = tags.gather(1, (mask.sum(1) - 1).clamp(min=0)[:, None]).squeeze(1)
        return s + self.end[last]

    def log_partition(self, emissions, mask):
        alpha = self.start + emissions[:, 0]
        for t in range(1, emissions.shape[1]):
            nxt = torch.logsumexp(alpha[:, :, None] + self.trans + emissions[:, t, None, :], 1)
            alpha = torch.where(mask[:, t, None], nxt, alpha)
        return torch.logsumexp(alpha + self.end, 1)

    def nll(self, emissions, tags, mask):
        """Mean negative log-likelihood per sentence."""
        emissions = emissions.float()
        return (self.log_partition(emissions, mask) - self.score(emissions, tags, mask)).mean()

    @torch.no_grad()
    def viterbi(self, emissions, mask) -> list[list[int]]:
        emissions = emissions.float()
        score = self.start + emissions[:, 0]
        back = []
        for t in range(1, emissions.shape[1]):
            best, arg = (score[:, :, None] + self.trans).max(1)
            nxt = best + emissions[:, t]
            score = torch.where(mask[:, t, None], nxt, score)
            # Past a sentence's end the path stays put: the backpointer points to the same tag.
            keep = torch.arange(score.shape[1], device=score.device).expand_as(arg)
            back.append(torch.where(mask[:, t, None], arg, keep))
        score = score + self.end
        last = score.argmax(1)
        paths = [last]
        for bp in reversed(back):
            last = bp.gather(1, last[:, None]).squeeze(1)
            paths.append(last)
        full = torch.stack(paths[::-1], 1).tolist()
        lengths = mask.sum(1).tolist()
        return [p[:n] for p, n in zip(full, lengths)]


class CharEncoder(nn.Module):
    """A word's characters through a BiLSTM; the final states are the word's character feature."""

    def __init__(self, char_vocab_size: int, dim: int, hidden: int, pad_id: int = 0):
        super().__init__()
        self.pad_id = pad_id
        self.emb = nn.Embedding(char_vocab_size, dim, padding_idx=pad_id)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        self.out_dim = 2 * hidden

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        b, l, c = chars.shape
        flat = chars.reshape(b * l, c)
        lengths = (flat != self.pad_id).sum(1)
        out = torch.zeros(b * l, self.out_dim, device=chars.device)
        real = lengths > 0
        if bool(real.any()):
            packed = nn.utils.rnn.pack_padded_sequence(self.emb(flat[real]), lengths[real].cpu(), batch_first=True,
                                                       enforce_sorted=False)
            _, (h, _) = self.lstm(packed)
            out[real] = torch.cat([h[0], h[1]], -1).to(out.dtype)
        return out.view(b, l, self.out_dim)


class BiLSTMTagger(nn.Module):
    """Embedding (+ character encoder) -> BiLSTM -> linear emissions (-> CRF)."""

    def __init__(self, vocab_size: int, num_tags: int, pad_id: int = 0, char_vocab_size: int = 0,
                 emb_dim: int = 64, hidden: int = 128, layers: int = 1, dropout: float = 0.3,
                 char_dim: int = 0, char_hidden: int = 32, crf: bool = False):
        super().__init__()
        self.pad_id = pad_id
        self.emb = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.chars = CharEncoder(char_vocab_size, char_dim, char_hidden, pad_id) if char_dim and char_vocab_size else None
        in_dim = emb_dim + (self.chars.out_dim if self.chars else 0)
        self.lstm = nn.LSTM(in_dim, hidden, layers, batch_first=True, bidirectional=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(2 * hidden, num_tags)
        self.crf = CRF(num_tags) if crf else None

    @property
    def uses_chars(self) -> bool:
        return self.chars is not None

    def forward(self, words: torch.Tensor, chars: torch.Tensor | None = None) -> torch.Tensor:
        x = self.emb(words)
        if self.chars is not None and chars is not None:
            x = torch.cat([x, self.chars(chars)], -1)
        mask = words != self.pad_id
        packed = nn.utils.rnn.pack_padded_sequence(self.drop(x), mask.sum(1).clamp(min=1).cpu(), batch_first=True,
                                                   enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=words.shape[1])
        return self.proj(self.drop(out))

    def loss(self, emissions, tags, mask):
        if self.crf is not None:
            return self.crf.nll(emissions, tags, mask)
        return F.cross_entropy(emissions[mask].float(), tags[mask])

    def decode(self, emissions, mask) -> list[list[int]]:
        if self.crf is not None:
            return self.crf.viterbi(emissions, mask)
        pred = emissions.argmax(-1).tolist()
        return [p[:n] for p, n in zip(pred, mask.sum(1).tolist())]
