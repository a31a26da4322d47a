"""Text models: the padding mask works (extra padding changes nothing), shapes, and gradients reach the inputs."""

import pytest
import torch

from nnml.tasks.text import classifiers as text
from nnml.tasks.text.seq2seq import GRUSeq2Seq, TransformerSeq2Seq
from nnml.tasks.text.tagger import BiLSTMTagger

CLASSIFIERS = [
    (text.BagOfEmbeddings, dict(dim=16, ngrams=3, buckets=97)),
    (text.ConvText, dict(dim=16, channels=8)),
    (text.RNNText, dict(dim=16, hidden=8, cell="gru", pooling="max")),
    (text.RNNText, dict(dim=16, hidden=8, cell="lstm", pooling="last", bidirectional=False)),
    (text.TransformerText, dict(d_model=16, nhead=2, dim_feedforward=32)),
]


def _ids(b=4, l=9):
    torch.manual_seed(0)
    x = torch.randint(4, 50, (b, l))
    x[1, 5:] = 0
    x[2, 2:] = 0
    return x


@pytest.mark.parametrize("cls,kw", CLASSIFIERS)
def test_classifiers_ignore_padding(cls, kw):
    torch.manual_seed(0)
    model = cls(vocab_size=50, num_outputs=3, **kw).eval()
    x = _ids()
    longer = torch.cat([x, torch.zeros(4, 6, dtype=torch.long)], 1)
    out = model(x)
    assert out.shape == (4, 3)
    assert torch.allclose(out, model(longer), atol=1e-5)


@pytest.mark.parametrize("cls", [GRUSeq2Seq, TransformerSeq2Seq])
def test_seq2seq_ignores_source_padding(cls):
    torch.manual_seed(0)
    model = (cls(50, 20, emb_dim=16, hidden=16) if cls is GRUSeq2Seq else cls(50, 20, d_model=16, nhead=2,
                                                                              dim_feedforward=32)).eval()
    x = _ids()
    tgt = torch.randint(4, 20, (4, 5))
    longer = torch.cat([x, torch.zeros(4, 3, dtype=torch.long)], 1)
    out = model(x, tgt)
    assert out.shape == (4, 5, 20)
    assert torch.allclose(out, model(longer, tgt), atol=1e-5)


@pytest.mark.parametrize("crf", [False, True])
def test_tagger_with_chars_and_crf(crf):
    torch.manual_seed(0)
    model = BiLSTMTagger(vocab_size=50, num_tags=5, char_vocab_size=30, emb_dim=8, hidden=8, char_dim=8,
                         char_hidden=4, crf=crf)
    words = _ids()
    chars = torch.randint(1, 30, (4, 9, 6)) * (words != 0)[..., None]
    em = model(words, chars)
    mask = words != 0
    tags = torch.randint(0, 5, (4, 9))
    loss = model.loss(em, tags, mask)
    loss.backward()
    assert model.emb.weight.grad.abs().sum() > 0 and model.chars.emb.weight.grad.abs().sum() > 0
    paths = model.decode(em, mask)
    assert [len(p) for p in paths] == mask.sum(1).tolist()
