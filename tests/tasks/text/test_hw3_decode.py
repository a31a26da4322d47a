"""Decoding: beam width 1 equals greedy, wide beams find the exact best sequence (brute force over a Markov
model), and both seq2seq models decode through the same interface."""

import itertools
import math

import pytest
import torch

from nnml.tasks.text.decode import beam_search, greedy
from nnml.tasks.text.seq2seq import GRUSeq2Seq, TransformerSeq2Seq
from nnml.tasks.text.tokenizers import BOS_ID, EOS_ID, PAD_ID


@pytest.mark.parametrize("cls", [GRUSeq2Seq, TransformerSeq2Seq])
@pytest.mark.parametrize("seed", [0, 1])
def test_beam_one_equals_greedy(cls, seed):
    torch.manual_seed(seed)
    model = cls(30, 25, emb_dim=16, hidden=32) if cls is GRUSeq2Seq else cls(30, 25, d_model=32, dim_feedforward=64)
    model.eval()
    src = torch.randint(4, 30, (5, 6))
    src[1, 3:] = PAD_ID
    g, _ = greedy(model, src, max_len=10)
    b, _ = beam_search(model, src, max_len=10, beam=1)
    assert torch.equal(g, b)


class Markov(torch.nn.Module):
    """A toy decoder: the next token's log-probabilities depend only on the previous token."""

    def __init__(self, table):
        super().__init__()
        self.table = table

    def encode(self, src):
        return {"src": src}

    def step(self, state, ys):
        return self.table[ys[:, -1]], state, None


def _seq_score(table, seq):
    prev, s = BOS_ID, 0.0
    for t in seq:
        s += float(table[prev, t])
        prev = t
    return s


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_wide_beam_is_exact_search(length_penalty):
    torch.manual_seed(3)
    v, max_len = 6, 3
    logits = torch.randn(v, v) * 2
    logits[:, PAD_ID] = logits[:, BOS_ID] = -1e9  # only real tokens and <eos> can be produced
    table = torch.log_softmax(logits, -1)
    model = Markov(table)
    out, score = beam_search(model, torch.zeros(1, 1, dtype=torch.long), max_len, beam=v**max_len,
                             length_penalty=length_penalty)
    best = -math.inf
    words = [t for t in range(v) if t not in (PAD_ID, BOS_ID)]
    for n in range(1, max_len + 1):
        for seq in itertools.product(words, repeat=n):
            if EOS_ID in seq[:-1] or (n < max_len and seq[-1] != EOS_ID):
                continue
            lp = ((5 + n) / 6) ** length_penalty
            best = max(best, _seq_score(table, seq) / lp)
    assert float(score[0]) == pytest.approx(best, abs=1e-4)
    got = [t for t in out[0].tolist() if t != PAD_ID]
    assert _seq_score(table, got) / (((5 + len(got)) / 6) ** length_penalty) == pytest.approx(best, abs=1e-4)
