"""Per-sentence records of translation and tagging evaluations, from which their corpus metrics are recomputed
exactly on any subset of sentences (what :func:`nnml.stats.paired_bootstrap` resamples).

Translation records (one row per sentence, in split order)::

    index       int64 (N,)       position of the sentence in the split
    bleu_stats  int64 (N, 10)    sacrebleu's BLEU sufficient statistics: hypothesis length, reference length,
                                 n-gram matches for n = 1..4, n-gram totals for n = 1..4 (13a tokenization)
    chrf_stats  int64 (N, 18)    sacrebleu's chrF statistics: (hypothesis, reference, matching) character n-gram
                                 counts for n = 1..6
    exact       int64 (N,)       1 where the hypothesis equals the reference (surrounding spaces stripped)

Corpus BLEU and chrF are functions of the summed statistics (sacrebleu's own ``corpus_score`` sums the same
per-sentence statistics, and its paired bootstrap resamples them), so :func:`translation_metrics` gives the
numbers :func:`nnml.tasks.text.metrics.translation_scores` gives for the same sentences. Greedy and beam outputs
are two record sets (call :func:`translation_records` once for each).

Tagging records (one row per sentence)::

    index         int64 (N,)
    tp            int64 (N,)   entities predicted with the right type and span (strict IOB2)
    n_pred        int64 (N,)   predicted entities
    n_true        int64 (N,)   true entities
    tokens_right  int64 (N,)   tokens whose predicted tag equals the true one
    tokens        int64 (N,)   tokens of the true sentence
    tp/<TYPE>, pred/<TYPE>, true/<TYPE>   int64 (N,)  the same three counts per entity type

:func:`tagging_metrics` gives micro ``precision``, ``recall``, ``f1`` over entities (seqeval's numbers with
``mode="strict", scheme=IOB2``), ``token_acc`` and ``f1_<TYPE>``, as :class:`nnml.tasks.text.tag.TagTask` reports.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnml.errors import NnmlError
from nnml.tasks.text.metrics import iob2_spans


def _index(index, n: int) -> np.ndarray:
    if index is None:
        return np.arange(n, dtype=np.int64)
    out = np.asarray(index, dtype=np.int64).reshape(-1)
    if out.size != n:
        raise NnmlError(f"index holds {out.size} values for {n} sentences; give one per sentence")
    return out


def translation_records(hypotheses: Sequence[str], references: Sequence[str], index=None) -> dict[str, np.ndarray]:
    """The records of detokenized ``hypotheses`` against their ``references`` (one reference per sentence)."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise NnmlError(f"{len(hypotheses)} hypotheses for {len(references)} references; give one per sentence")
    n = len(hypotheses)
    refs = [list(references)]
    bleu = np.asarray(BLEU()._extract_corpus_statistics(hypotheses, refs), dtype=np.int64).reshape(n, -1)
    chrf = np.asarray(CHRF()._extract_corpus_statistics(hypotheses, refs), dtype=np.int64).reshape(n, -1)
    exact = np.array([h.strip() == r.strip() for h, r in zip(hypotheses, references)], dtype=np.int64)
    return {"index": _index(index, n), "bleu_stats": bleu, "chrf_stats": chrf, "exact": exact}


def translation_metrics(records) -> dict[str, float]:
    """``bleu``, ``chrf`` (sacrebleu's 0-100 scale) and ``exact`` (a share) of translation records."""
    from sacrebleu.metrics import BLEU, CHRF

    bleu = BLEU()._compute_score_from_stats(np.asarray(records["bleu_stats"]).sum(0).tolist()).score
    chrf = CHRF()._compute_score_from_stats(np.asarray(records["chrf_stats"]).sum(0).tolist()).score
    exact = np.asarray(records["exact"])
    return {"bleu": float(bleu), "chrf": float(chrf), "exact": float(exact.sum() / max(exact.size, 1))}


def tagging_records(true: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], entity_types: Sequence[str],
                    index=None) -> dict[str, np.ndarray]:
    """The records of predicted tag sequences ``pred`` against ``true`` (IOB2 tags, one list per sentence, as
    TagTask compares them); ``entity_types``: the types counted one by one."""
    if len(true) != len(pred):
        raise NnmlError(f"{len(pred)} predicted sentences for {len(true)} true ones; give one per sentence")
    n = len(true)
    types = list(entity_types)
    counts = {k: np.zeros(n, dtype=np.int64) for k in ("tp", "n_pred", "n_true", "tokens_right", "tokens")}
    per_type = {f"{what}/{t}": np.zeros(n, dtype=np.int64) for t in types for what in ("tp", "pred", "true")}
    for i, (t, p) in enumerate(zip(true, pred)):
        st, sp = iob2_spans(t), iob2_spans(p)
        counts["tp"][i], counts["n_pred"][i], counts["n_true"][i] = len(st & sp), len(sp), len(st)
        counts["tokens_right"][i] = sum(a == b for a, b in zip(t, p))
        counts["tokens"][i] = len(t)
        for what, spans in (("tp", st & sp), ("pred", sp), ("true", st)):
            for s in spans:
                key = f"{what}/{s[0]}"
                if key in per_type:
                    per_type[key][i] += 1
    return {"index": _index(index, n), **counts, **per_type}


def _prf(tp: float, n_pred: float, n_true: float) -> tuple[float, float, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_true if n_true else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def tagging_metrics(records) -> dict[str, float]:
    """``precision``, ``recall``, ``f1`` (micro over entities), ``token_acc`` and ``f1_<TYPE>`` per type recorded."""
    total = {k: float(np.sum(records[k])) for k in ("tp", "n_pred", "n_true", "tokens_right", "tokens")}
    p, r, f = _prf(total["tp"], total["n_pred"], total["n_true"])
    out = {"precision": p, "recall": r, "f1": f, "token_acc": total["tokens_right"] / max(total["tokens"], 1.0)}
    for key in sorted(k for k in records if k.startswith("tp/")):
        t = key[3:]
        out[f"f1_{t}"] = _prf(float(np.sum(records[key])), float(np.sum(records[f"pred/{t}"])),
                              float(np.sum(records[f"true/{t}"])))[2]
    return out
