"""nnml's entity scores equal seqeval's (strict IOB2), its BLEU/chrF equal sacrebleu's; the CRF against brute
force."""

import itertools
import random

import pytest
import torch

from nnml.tasks.text.metrics import entity_scores, iob2_spans, translation_scores

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def _random_tagging(seed):
    rng = random.Random(seed)
    true = [[rng.choice(TAGS) for _ in range(rng.randint(1, 9))] for _ in range(30)]
    pred = [[rng.choice(TAGS) if rng.random() < 0.4 else t for t in s] for s in true]
    return true, pred


@pytest.mark.parametrize("seed", range(5))
def test_entity_scores_equal_seqeval_strict_iob2(seed):
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    true, pred = _random_tagging(seed)  # random tags: includes I- without B-, which strict mode ignores
    ours = entity_scores(true, pred)
    kw = dict(mode="strict", scheme=IOB2, zero_division=0)
    assert ours["f1"] == pytest.approx(f1_score(true, pred, **kw), abs=1e-12)
    assert ours["precision"] == pytest.approx(precision_score(true, pred, **kw), abs=1e-12)
    assert ours["recall"] == pytest.approx(recall_score(true, pred, **kw), abs=1e-12)
    report = classification_report(true, pred, output_dict=True, **kw)
    for kind in ("PER", "LOC", "ORG"):
        if kind in report:
            assert ours[f"f1_{kind}"] == pytest.approx(report[kind]["f1-score"], abs=1e-12)
            assert ours[f"recall_{kind}"] == pytest.approx(report[kind]["recall"], abs=1e-12)


def test_strict_spans():
    assert iob2_spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"]) == {("PER", 0, 2), ("LOC", 4, 5)}


def test_translation_scores_equal_sacrebleu():
    import sacrebleu

    refs = ["семь тысяч два", "the cat is on the mat", "один", "два три четыре пять"]
    hyps = ["семь тысяч три", "the cat sat on the mat", "один", "два три"]
    ours = translation_scores(hyps, refs)
    assert ours["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9)
    assert ours["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-9)
    assert ours["exact"] == 0.25
    assert "tok:13a" in ours["signatures"]["bleu"]


@torch.no_grad()
def test_crf_against_brute_force():
    from nnml.tasks.text.tagger import CRF

    torch.manual_seed(0)
    crf = CRF(3)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    em = torch.randn(4, 4, 3)
    lengths = torch.tensor([4, 3, 1, 2])
    mask = torch.arange(4)[None] < lengths[:, None]
    logz, paths = crf.log_partition(em, mask), crf.viterbi(em, mask)
    for i, n in enumerate(lengths.tolist()):
        scored = []
        for path in itertools.product(range(3), repeat=n):
            tags = torch.tensor(list(path) + [0] * (4 - n))[None]
            scored.append((float(crf.score(em[i : i + 1], tags, mask[i : i + 1])[0]), list(path)))
        assert float(logz[i]) == pytest.approx(float(torch.logsumexp(torch.tensor([s for s, _ in scored]), 0)),
                                               abs=1e-5)
        assert paths[i] == max(scored)[1]
