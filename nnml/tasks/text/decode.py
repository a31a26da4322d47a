"""Greedy and batched beam-search decoding for encoder-decoder models.

A model decodes through two methods (``nnml.tasks.text.seq2seq``): ``encode(src) -> state`` and
``step(state, ys) -> (log_probs (B, V), state, attention (B, S) or None)`` where ``ys`` (B, t) is the prefix so far
(it starts with ``<bos>``) and ``state`` is a dict of batch-first tensors, so beams reorder it with ``index_select``.

Beam search keeps ``beam`` hypotheses per source; a finished hypothesis (it produced ``<eos>``) stays in its slot
with a frozen score. The best hypothesis is the one with the highest ``score / lp`` where
``lp = ((5 + length) / 6) ** length_penalty`` (Wu et al., 2016; 0 means raw log-probability). With ``beam=1`` the
search takes the argmax at every step, which is greedy decoding.
"""

from __future__ import annotations

import torch

from nnml.tasks.text.tokenizers import BOS_ID, EOS_ID, PAD_ID


def _reorder(state: dict, index: torch.Tensor) -> dict:
    return {k: v.index_select(0, index) for k, v in state.items()}


@torch.no_grad()
def greedy(model, src: torch.Tensor, max_len: int, return_attention: bool = False):
    """(tokens (B, T) without ``<bos>``, padded after ``<eos>``; attention (B, T, S) or None)."""
    state = model.encode(src)
    b = src.shape[0]
    ys = torch.full((b, 1), BOS_ID, dtype=torch.long, device=src.device)
    done = torch.zeros(b, dtype=torch.bool, device=src.device)
    attns = []
    for _ in range(max_len):
        logp, state, attn = model.step(state, ys)
        nxt = logp.argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, PAD_ID), nxt)
        ys = torch.cat([ys, nxt[:, None]], 1)
        if return_attention and attn is not None:
            attns.append(attn)
        done |= nxt == EOS_ID
        if bool(done.all()):
            break
    attention = torch.stack(attns, 1) if attns else None
    return ys[:, 1:], attention


@torch.no_grad()
def beam_search(model, src: torch.Tensor, max_len: int, beam: int = 4, length_penalty: float = 0.0):
    """(best tokens (B, T) without ``<bos>``, padded after ``<eos>``; their scores (B,) = log-prob / lp)."""
    b, k = src.shape[0], int(beam)
    dev = src.device
    state = _reorder(model.encode(src), torch.arange(b, device=dev).repeat_interleave(k))
    ys = torch.full((b * k, 1), BOS_ID, dtype=torch.long, device=dev)
    scores = torch.full((b, k), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # all beams start equal: only the first one expands at step one
    done = torch.zeros(b * k, dtype=torch.bool, device=dev)
    length = torch.zeros(b * k, dtype=torch.long, device=dev)
    for _ in range(max_len):
        logp, state, _ = model.step(state, ys)
        v = logp.shape[-1]
        # A finished beam can only continue with <pad> at no cost, so it keeps its score and its slot.
        frozen = torch.full_like(logp, float("-inf"))
        frozen[:, PAD_ID] = 0.0
        logp = torch.where(done[:, None], frozen, logp.float())
        cand = (scores.view(b * k, 1) + logp).view(b, k * v)
        scores, flat = cand.topk(k, dim=1)
        src_beam = flat // v + torch.arange(b, device=dev)[:, None] * k
        tok = (flat % v).view(-1)
        src_beam = src_beam.view(-1)
        state = _reorder(state, src_beam)
        ys = torch.cat([ys.index_select(0, src_beam), tok[:, None]], 1)
        was_done = done.index_select(0, src_beam)
        length = length.index_select(0, src_beam) + (~was_done).long()
        done = was_done | (tok == EOS_ID)
        if bool(done.all()):
            break
    lp = ((5.0 + length.float()) / 6.0) ** length_penalty
    final = scores.view(-1) / lp
    best = final.view(b, k).argmax(1) + torch.arange(b, device=dev) * k
    return ys.index_select(0, best)[:, 1:], final.index_select(0, best)


def decode(model, src: torch.Tensor, max_len: int, beam: int = 1, length_penalty: float = 0.0) -> torch.Tensor:
    """Greedy for ``beam <= 1``, beam search otherwise; tokens (B, T)."""
    if beam <= 1:
        return greedy(model, src, max_len)[0]
    return beam_search(model, src, max_len, beam, length_penalty)[0]
