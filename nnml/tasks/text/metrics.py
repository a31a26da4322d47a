"""The metrics the field reports for text, computed the way the field's libraries compute them.

Translation: corpus BLEU and chrF from ``sacrebleu`` with its default tokenization (13a) and their signatures, plus
exact match. Tagging: entity-level precision, recall and F1 over strict IOB2 spans (an entity is ``B-X`` followed by
``I-X`` tokens; an ``I-X`` that does not continue a ``B-X``/``I-X`` of the same type starts no entity), overall
(micro) and per entity type: the numbers ``seqeval`` gives with ``mode="strict", scheme=IOB2`` (tests check it).
"""

from __future__ import annotations

from collections import Counter


def translation_scores(hypotheses: list[str], references: list[str]) -> dict:
    """``{"bleu", "chrf", "exact"}`` (BLEU and chrF on sacrebleu's 0-100 scale, exact match in [0, 1]) and
    ``signatures`` (sacrebleu's strings naming how the scores were computed)."""
    from sacrebleu.metrics import BLEU, CHRF

    bleu, chrf = BLEU(), CHRF()
    b = bleu.corpus_score(hypotheses, [references])
    c = chrf.corpus_score(hypotheses, [references])
    exact = sum(h.strip() == r.strip() for h, r in zip(hypotheses, references)) / max(len(references), 1)
    return {"bleu": float(b.score), "chrf": float(c.score), "exact": float(exact),
            "signatures": {"bleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature())}}


def iob2_spans(tags: list[str]) -> set[tuple[str, int, int]]:
    """Strict IOB2 entities of one sentence as ``(type, start, end)`` (end exclusive)."""
    spans = set()
    kind, start = None, 0
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, t = tag.partition("-")
        if kind is not None and not (prefix == "I" and t == kind):
            spans.add((kind, start, i))
            kind = None
        if prefix == "B":
            kind, start = t, i
    return spans


def entity_scores(true: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """``precision``, ``recall``, ``f1`` (micro over entities) and ``f1_<TYPE>``, ``precision_<TYPE>``,
    ``recall_<TYPE>`` per entity type present in either side."""
    tp, n_true, n_pred = Counter(), Counter(), Counter()
    for t, p in zip(true, pred):
        st, sp = iob2_spans(t), iob2_spans(p)
        for s in st:
            n_true[s[0]] += 1
        for s in sp:
            n_pred[s[0]] += 1
        for s in st & sp:
            tp[s[0]] += 1

    def prf(a, b, c):
        p = a / b if b else 0.0
        r = a / c if c else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    out = {}
    p, r, f = prf(sum(tp.values()), sum(n_pred.values()), sum(n_true.values()))
    out.update(precision=p, recall=r, f1=f)
    for kind in sorted(set(n_true) | set(n_pred)):
        p, r, f = prf(tp[kind], n_pred[kind], n_true[kind])
        out.update({f"precision_{kind}": p, f"recall_{kind}": r, f"f1_{kind}": f})
    return out
