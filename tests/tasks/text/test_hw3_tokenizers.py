"""Tokenizers: round trips, the unknown token, train-split-only vocabularies, plain-data save and load."""

import pytest

from nnml.errors import NnmlError
from nnml.tasks.text.tokenizers import EOS_ID, PAD_ID, SPECIALS, UNK_ID, from_dict, split_words, train_tokenizer

TRAIN = ["Hello world, this is a test.", "Привет, мир! Это тест.", "the quick brown fox jumps (over) the dog"]


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_exact_round_trip(kind):
    tok = train_tokenizer(kind, TRAIN, vocab_size=120, min_freq=1)
    for text in TRAIN + ["the fox, the dog."]:
        assert tok.decode(tok.encode(text)) == text


def test_word_round_trip_and_min_freq():
    tok = train_tokenizer("word", TRAIN, min_freq=1)
    for text in TRAIN:
        assert tok.decode(tok.encode(text)) == text
    rare = train_tokenizer("word", TRAIN, min_freq=2)
    assert "the" in rare.index and "fox" not in rare.index  # "the" occurs 3 times, "fox" once
    assert rare.encode("fox")[0] == UNK_ID


def test_wordpiece_round_trip_of_words():
    tok = train_tokenizer("wordpiece", TRAIN, vocab_size=200, min_freq=1)
    assert split_words(tok.decode(tok.encode(TRAIN[0]))) == split_words(TRAIN[0])


def test_specials_unknown_and_decode_stops_at_eos():
    tok = train_tokenizer("char", TRAIN, min_freq=1)
    assert tok.vocab[:4] == list(SPECIALS)
    assert tok.encode("ж") == [UNK_ID]  # a character seen only outside the training texts
    ids = tok.encode("hi")
    assert tok.decode(ids + [EOS_ID] + tok.encode("xx") + [PAD_ID]) == "hi"


@pytest.mark.parametrize("kind", ["char", "word", "bpe", "wordpiece"])
def test_plain_data_round_trip(kind):
    tok = train_tokenizer(kind, TRAIN, vocab_size=100, min_freq=1)
    again = from_dict(tok.to_dict())
    assert again.vocab_size == tok.vocab_size
    for text in TRAIN:
        assert again.encode(text) == tok.encode(text)


def test_bad_kind_is_one_line():
    with pytest.raises(NnmlError, match="dataset.tokenizer=chars is not valid.*char"):
        train_tokenizer("chars", TRAIN)
