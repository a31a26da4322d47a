"""Tokenizers trained on the train split only: characters, words (minimum frequency, unknown token), and BPE or
WordPiece through Hugging Face's ``tokenizers``.

Every tokenizer shares four special ids (``<pad>`` 0, ``<unk>`` 1, ``<bos>`` 2, ``<eos>`` 3), ``encode`` gives ids
without specials, ``decode`` stops at ``<eos>`` and drops the other specials, and ``to_dict``/``from_dict`` hold it
as plain data: the task writes it as JSON into the run folder and into checkpoints, so ``nnml eval`` and
``nnml predict`` use exactly the vocabulary the model was trained with.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from nnml.errors import bad_choice

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)
KINDS = ("char", "word", "bpe", "wordpiece")

# Words and single punctuation marks; decode joins them with spaces, so a word tokenizer round-trips text whose
# tokens are already space-separated (see split_words).
_WORD = re.compile(r"\w+(?:[-']\w+)*|[^\w\s]", re.UNICODE)


def split_words(text: str) -> list[str]:
    return _WORD.findall(text)


_NO_SPACE_BEFORE = re.compile(r" ([,.!?;:%)\]}»])")
_NO_SPACE_AFTER = re.compile(r"([(\[{«]) ")


def detokenize(words: list[str]) -> str:
    """Words joined by spaces, without a space before closing punctuation or after an opening bracket."""
    return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", " ".join(words)))


class Tokenizer:
    """Base: a vocabulary list whose first four entries are the specials."""

    kind = "base"

    def __init__(self, vocab: list[str], lowercase: bool = False):
        self.vocab = list(vocab)
        self.lowercase = lowercase
        self.index = {t: i for i, t in enumerate(self.vocab)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def _norm(self, text: str) -> str:
        return text.lower() if self.lowercase else text

    def tokens(self, text: str) -> list[str]:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        return [self.index.get(t, UNK_ID) for t in self.tokens(self._norm(text))]

    def encode_tokens(self, tokens: Iterable[str]) -> list[int]:
        """Ids of already split tokens (words of a tagged sentence)."""
        return [self.index.get(self._norm(t), UNK_ID) for t in tokens]

    def unknown_rate(self, text: str) -> float:
        ids = self.encode(text)
        return sum(i == UNK_ID for i in ids) / max(len(ids), 1)

    def _strip(self, ids: Iterable[int]) -> list[int]:
        out = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                out.append(i)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"kind": self.kind, "vocab": self.vocab, "lowercase": self.lowercase}

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False))


def _count_vocab(counts: Counter, min_freq: int, max_size: int | None) -> list[str]:
    # Most frequent first, ties broken alphabetically, so the same train split always gives the same ids.
    items = sorted(((t, c) for t, c in counts.items() if c >= min_freq and t not in SPECIALS),
                   key=lambda tc: (-tc[1], tc[0]))
    if max_size:
        items = items[: max(max_size - len(SPECIALS), 0)]
    return list(SPECIALS) + [t for t, _ in items]


class CharTokenizer(Tokenizer):
    """One id per character; characters seen fewer than ``min_freq`` times in training become ``<unk>``."""

    kind = "char"

    @classmethod
    def train(cls, texts: Iterable[str], min_freq: int = 1, max_size: int | None = None, lowercase: bool = False):
        counts = Counter()
        for t in texts:
            counts.update(t.lower() if lowercase else t)
        return cls(_count_vocab(counts, min_freq, max_size), lowercase)

    def tokens(self, text: str) -> list[str]:
        return list(text)

    def decode(self, ids) -> str:
        return "".join(self.vocab[i] if i != UNK_ID else "\ufffd" for i in self._strip(ids))


class WordTokenizer(Tokenizer):
    """Words and punctuation marks (``split_words``); words below ``min_freq`` in training become ``<unk>``."""

    kind = "word"

    @classmethod
    def train(cls, texts: Iterable[str], min_freq: int = 1, max_size: int | None = None, lowercase: bool = False):
        counts = Counter()
        for t in texts:
            counts.update(split_words(t.lower() if lowercase else t))
        return cls(_count_vocab(counts, min_freq, max_size), lowercase)

    @classmethod
    def train_tokens(cls, sentences: Iterable[list[str]], min_freq: int = 1, max_size: int | None = None,
                     lowercase: bool = False):
        counts = Counter()
        for s in sentences:
            counts.update(w.lower() if lowercase else w for w in s)
        return cls(_count_vocab(counts, min_freq, max_size), lowercase)

    def tokens(self, text: str) -> list[str]:
        return split_words(text)

    def decode(self, ids) -> str:
        return detokenize([self.vocab[i] for i in self._strip(ids)])


class HFTokenizer(Tokenizer):
    """BPE or WordPiece subwords trained with Hugging Face ``tokenizers``. BPE splits at Metaspace (spaces become
    ``▁``), so it round-trips text exactly when every character was seen in training; WordPiece splits at
    whitespace and punctuation and its decoder joins ``##`` pieces (spacing around punctuation is normalised)."""

    def __init__(self, tok, kind: str, lowercase: bool = False):
        self.tok = tok
        self.kind = kind
        vocab = [None] * tok.get_vocab_size()
        for t, i in tok.get_vocab().items():
            vocab[i] = t
        super().__init__(vocab, lowercase)

    @classmethod
    def train(cls, texts: Iterable[str], kind: str = "bpe", vocab_size: int = 1000, min_freq: int = 2,
              lowercase: bool = False):
        from tokenizers import Tokenizer as HF
        from tokenizers import decoders, models, pre_tokenizers, trainers

        if kind == "bpe":
            tok = HF(models.BPE(unk_token=UNK))
            tok.pre_tokenizer = pre_tokenizers.Metaspace()
            tok.decoder = decoders.Metaspace()
            trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_freq, special_tokens=list(SPECIALS))
        else:
            tok = HF(models.WordPiece(unk_token=UNK))
            tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
            tok.decoder = decoders.WordPiece()
            trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_freq,
                                                special_tokens=list(SPECIALS))
        texts = [t.lower() if lowercase else t for t in texts]
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok, kind, lowercase)

    def tokens(self, text: str) -> list[str]:
        return self.tok.encode(text, add_special_tokens=False).tokens

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(self._norm(text), add_special_tokens=False).ids

    def decode(self, ids) -> str:
        return self.tok.decode(self._strip(ids), skip_special_tokens=True)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "hf": self.tok.to_str(), "lowercase": self.lowercase}


def train_tokenizer(kind: str, texts: Iterable[str], *, min_freq: int = 1, vocab_size: int = 1000,
                    lowercase: bool = False, key: str = "dataset.tokenizer") -> Tokenizer:
    """A tokenizer of ``kind`` (char, word, bpe, wordpiece) trained on ``texts`` (the train split only)."""
    texts = list(texts)
    if kind == "char":
        return CharTokenizer.train(texts, min_freq=min_freq, lowercase=lowercase)
    if kind == "word":
        return WordTokenizer.train(texts, min_freq=min_freq, lowercase=lowercase)
    if kind in ("bpe", "wordpiece"):
        return HFTokenizer.train(texts, kind=kind, vocab_size=vocab_size, min_freq=max(min_freq, 1),
                                 lowercase=lowercase)
    raise bad_choice(key, kind, KINDS)


def from_dict(d: dict) -> Tokenizer:
    kind = d["kind"]
    if kind in ("bpe", "wordpiece"):
        from tokenizers import Tokenizer as HF

        return HFTokenizer(HF.from_str(d["hf"]), kind, d.get("lowercase", False))
    cls = {"char": CharTokenizer, "word": WordTokenizer}[kind]
    return cls(d["vocab"], d.get("lowercase", False))


def load(path: Path) -> Tokenizer:
    return from_dict(json.loads(Path(path).read_text()))
