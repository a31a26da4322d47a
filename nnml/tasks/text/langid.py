"""Language identification over the human translations in Django's catalogues (read from the installed package).

Twelve languages by default, with close pairs that keep it hard (ru/uk/be/bg/sr in Cyrillic, es/pt/it, de/nl,
pl). Each example is one translated UI string; a string that occurs in more than one language (a name, "OK") is
dropped (``drop_ambiguous``), as its label would be a coin toss. Split: stratified at random by ``seed`` (80/10/10 by default). A
character 1-3-gram TF-IDF + logistic regression baseline on the same split: ``scripts/langid_baseline.py``.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from nnml.errors import NnmlError
from nnml.tasks.text.data import TextSplits, labelled_texts
from nnml.tasks.text.po import django_catalogues, translations
from nnml.tasks.text.tokenizers import train_tokenizer

LANGUAGES = ("ru", "uk", "be", "bg", "sr", "es", "pt", "it", "fr", "de", "nl", "pl")


def langid_corpus(languages=LANGUAGES, drop_ambiguous: bool = True) -> tuple[list[str], list[int]]:
    """(texts, label ids) in a fixed order: every distinct translation of every language; a text found in several
    languages is dropped (``drop_ambiguous``) or kept once per language, each copy with its own label."""
    by_text: dict[str, set[int]] = defaultdict(set)
    for i, lang in enumerate(languages):
        if not django_catalogues(lang):
            raise NnmlError(f"dataset.languages: Django ships no catalogue for '{lang}'")
        for _, text in translations(lang):
            by_text[" ".join(text.split())].add(i)
    items = sorted((t, y) for t, ls in by_text.items() if t and (len(ls) == 1 or not drop_ambiguous) for y in ls)
    return [t for t, _ in items], [y for _, y in items]


def split_indices(y: np.ndarray, seed: int, val_fraction: float, test_fraction: float):
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=y)
    train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction), random_state=seed,
                                  stratify=y[rest])
    return np.sort(train), np.sort(val), np.sort(test)


def langid(seed: int, languages=LANGUAGES, tokenizer: str = "char", min_freq: int = 2, vocab_size: int = 2000,
           lowercase: bool = False, max_len: int = 256, val_fraction: float = 0.1, test_fraction: float = 0.1,
           drop_ambiguous: bool = True) -> TextSplits:
    """Language ID: ``x`` token ids (padded), ``y`` the language; tokenizer trained on the train texts only."""
    languages = tuple(languages)
    texts, labels = langid_corpus(languages, drop_ambiguous)
    y = np.asarray(labels)
    parts = dict(zip(("train", "val", "test"), split_indices(y, seed, val_fraction, test_fraction)))
    tok = train_tokenizer(tokenizer, [texts[i] for i in parts["train"]], min_freq=min_freq, vocab_size=vocab_size,
                          lowercase=lowercase)
    return labelled_texts("langid", texts, y, parts, tok, languages, max_len)
