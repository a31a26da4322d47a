"""Per-sentence text records reproduce the corpus metrics on any subset of sentences, duplicates included:
BLEU and chrF against sacrebleu's corpus scores, entity scores against seqeval (strict IOB2) and nnml's
entity_scores, token accuracy against TagTask's formula."""

import random

import numpy as np
import pytest

from nnml import stats
from nnml.errors import NnmlError
from nnml.tasks.text.metrics import entity_scores, translation_scores
from nnml.tasks.text.records import tagging_metrics, tagging_records, translation_metrics, translation_records

WORDS = "the a cat dog sat on mat rug и кот сидит на ковре семь тысяч два . ,".split()
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def _corpus(seed, n=40):
    rng = random.Random(seed)
    refs = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))) for _ in range(n)]
    hyps = []
    for r in refs:
        words = r.split()
        roll = rng.random()
        if roll < 0.15:
            hyps.append(r)  # exact
        elif roll < 0.2:
            hyps.append("")  # empty output
        else:
            hyps.append(" ".join(w if rng.random() < 0.7 else rng.choice(WORDS) for w in words[: rng.randint(1, 14)]))
    return hyps, refs


@pytest.mark.parametrize("seed", range(3))
def test_translation_records_reproduce_sacrebleu_corpus_scores(seed):
    import sacrebleu

    hyps, refs = _corpus(seed)
    rec = translation_records(hyps, refs, index=np.arange(100, 140))
    assert rec["bleu_stats"].shape == (40, 10) and rec["chrf_stats"].shape == (40, 18)
    rng = np.random.default_rng(seed)
    for idx in (np.arange(40), rng.integers(0, 40, 40), np.array([1, 5, 9])):
        h, r = [hyps[i] for i in idx], [refs[i] for i in idx]
        ours = translation_metrics(stats.take(rec, idx))
        want = translation_scores(h, r)
        for name in ("bleu", "chrf", "exact"):
            assert ours[name] == pytest.approx(want[name], abs=1e-9), name
        assert ours["bleu"] == pytest.approx(sacrebleu.corpus_bleu(h, [r]).score, abs=1e-9)
        assert ours["chrf"] == pytest.approx(sacrebleu.corpus_chrf(h, [r]).score, abs=1e-9)


def _tagging(seed, n=50):
    rng = random.Random(seed)
    true = [[rng.choice(TAGS) for _ in range(rng.randint(1, 9))] for _ in range(n)]
    pred = [[rng.choice(TAGS) if rng.random() < 0.4 else t for t in s] for s in true]
    return true, pred


@pytest.mark.parametrize("seed", range(3))
def test_tagging_records_reproduce_seqeval_and_entity_scores(seed):
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    true, pred = _tagging(seed)
    rec = tagging_records(true, pred, ["LOC", "ORG", "PER"])
    rng = np.random.default_rng(seed)
    kw = dict(mode="strict", scheme=IOB2, zero_division=0)
    for idx in (np.arange(50), rng.integers(0, 50, 50), np.array([0, 0, 3])):
        t, p = [true[i] for i in idx], [pred[i] for i in idx]
        ours = tagging_metrics(stats.take(rec, idx))
        assert ours["precision"] == pytest.approx(precision_score(t, p, **kw), abs=1e-12)
        assert ours["recall"] == pytest.approx(recall_score(t, p, **kw), abs=1e-12)
        assert ours["f1"] == pytest.approx(f1_score(t, p, **kw), abs=1e-12)
        report = classification_report(t, p, output_dict=True, **kw)
        mine = entity_scores(t, p)
        for kind in ("LOC", "ORG", "PER"):
            assert ours[f"f1_{kind}"] == pytest.approx(mine.get(f"f1_{kind}", 0.0), abs=1e-12)
            if kind in report:
                assert ours[f"f1_{kind}"] == pytest.approx(report[kind]["f1-score"], abs=1e-12)
        right = sum(a == b for g, h in zip(t, p) for a, b in zip(g, h))
        assert ours["token_acc"] == pytest.approx(right / sum(len(g) for g in t), abs=1e-12)


def test_text_records_refuse_mismatched_lengths():
    with pytest.raises(NnmlError, match="2 hypotheses for 1 references"):
        translation_records(["a", "b"], ["a"])
    with pytest.raises(NnmlError, match="1 predicted sentences for 2 true ones"):
        tagging_records([["O"], ["O"]], [["O"]], ["PER"])
