"""``dataset=text_csv``: your own texts and their labels, one row each in a CSV, TSV or Parquet file, for text
classification (``task=text_classification``, or ``task=auto``).

The file is read once (:mod:`nnml.data.table_files`), keeping the ``text`` and ``label`` columns only. Classes are
the labels sorted (numerically when every label is a number); the split is stratified by label and seeded, or
``test_path`` gives the test rows (then only val is split off ``path``). The tokenizer is trained on the train
texts only. An empty text or label, or a test label that ``path`` never has, is one line naming its place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnml.data.base import split_indices
from nnml.data.table_files import Table, missing, read_table
from nnml.data.tabular import class_keys, label_keys
from nnml.errors import NnmlError, did_you_mean
from nnml.tasks.text.data import TextSplits, labelled_texts
from nnml.tasks.text.tokenizers import train_tokenizer


def _read(path, key: str, text: str, label: str, sep) -> Table:
    def keep(header):
        for name, k in ((text, "dataset.text"), (label, "dataset.label")):
            if name not in header:
                raise NnmlError(f"{k}={name} is not a column of {path}{did_you_mean(name, header)}; its columns: "
                                f"{', '.join(header[:30])}")
        if text == label:
            raise NnmlError(f"dataset.text and dataset.label both name column '{text}'; give two columns")
        return [text, label]

    t = read_table(path, key, keep, sep)
    for col, what in ((text, "text"), (label, "label")):
        for i, c in enumerate(t.columns[col]):
            if missing(c):
                raise NnmlError(f"{t.place(i)}: the {what} column '{col}' is empty; fill it or remove the row")
    return t


def text_csv(seed: int, path: str | None = None, text: str = "text", label: str = "label",
             test_path: str | None = None, sep: str | None = None, tokenizer: str = "word", min_freq: int = 1,
             vocab_size: int = 8000, lowercase: bool = True, max_len: int = 256, val_fraction: float = 0.1,
             test_fraction: float = 0.2) -> TextSplits:
    """Texts and labels from a table file -> padded token ids and class ids (module docstring)."""
    main = _read(path, "dataset.path", str(text), str(label), sep)
    texts = [str(c) for c in main.columns[text]]
    keys, classes = class_keys(main.columns[label])
    lookup = {c: i for i, c in enumerate(classes)}
    y = np.asarray([lookup[k] for k in keys], dtype=np.int64)
    n = len(y)
    if test_path:
        tt = _read(test_path, "dataset.test_path", str(text), str(label), sep)
        test_keys = label_keys(tt.columns[label], classes)
        for i, k in enumerate(test_keys):
            if k not in lookup:
                raise NnmlError(f"{tt.place(i)}: label '{k}' never occurs in {path}, so the model cannot learn it; "
                                f"its labels: {', '.join(classes[:30])}")
        texts += [str(c) for c in tt.columns[text]]
        y = np.concatenate([y, np.asarray([lookup[k] for k in test_keys], dtype=np.int64)])
        train, val, _ = split_indices(n, y[:n], seed, float(val_fraction), None, f"dataset.path={path}",
                                      names=classes)
        test = np.arange(n, len(y))
    else:
        train, val, test = split_indices(n, y, seed, float(val_fraction), float(test_fraction),
                                         f"dataset.path={path}", names=classes)
    place = (lambda i: main.place(i) if i < n else tt.place(i - n))
    seen = set(y[train].tolist())
    for split, ix in (("val", val), ("test", test)):
        for i in ix:
            if int(y[i]) not in seen:
                raise NnmlError(f"{place(int(i))}: label '{classes[y[i]]}' is in the {split} split but never in the "
                                f"train split; add training rows of it or remove it")
    tok = train_tokenizer(tokenizer, [texts[i] for i in train], min_freq=min_freq, vocab_size=vocab_size,
                          lowercase=lowercase)
    parts = {"train": train, "val": val, "test": test}
    return labelled_texts(Path(str(path)).stem, texts, y, parts, tok, classes, max_len, empty_as_unk=True)
