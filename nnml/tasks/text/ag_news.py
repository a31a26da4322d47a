"""AG News (Zhang, Zhao and LeCun, 2015): 120,000 train / 7,600 test news headlines with descriptions in four
topics, as the published CSV files (``"label","title","description"``, labels 1-4), downloaded once into a data
folder and verified by MD5 (the mirror and sums torchtext uses). Val is carved out of the training rows.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from nnml.data.download import _download, ensure_verified
from nnml.errors import NnmlError
from nnml.tasks.text.batches import pad
from nnml.tasks.text.data import TextSplits, lengths_of
from nnml.tasks.text.tokenizers import train_tokenizer

CLASSES = ["World", "Sports", "Business", "Sci/Tech"]
SOURCE = {
    "mirror": "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/",
    "md5": {"train.csv": "b1a00f826fdfbd249f79597b59e1dc12", "test.csv": "d52ea96a97a2d943681189a97654912d"},
}


def ensure_ag_news(root: Path, download: bool = True) -> Path:
    """The folder holding AG News' verified train.csv and test.csv, downloading what is missing."""
    return ensure_verified(Path(root) / "ag_news", SOURCE["md5"], mirrors=[SOURCE["mirror"]], what="dataset=ag_news",
                           download=download, put="train.csv and test.csv of AG News", downloader=_download)


def read_ag_news(path: Path) -> tuple[list[str], list[int]]:
    """(texts, labels 0-3) of one CSV file: title and description joined, the files' ``\\n`` escapes as spaces."""
    texts, labels = [], []
    with open(path, encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if len(row) < 2 or not row[0].isdigit() or not 1 <= int(row[0]) <= 4:
                raise NnmlError(f"{path}:{n}: not an AG News row (label 1-4, title, description)")
            texts.append(" ".join(" ".join(row[1:]).replace("\\n", " ").replace("\\", " ").split()))
            labels.append(int(row[0]) - 1)
    return texts, labels


def ag_news(seed: int, root: str = "data", download: bool = True, tokenizer: str = "word", min_freq: int = 2,
            vocab_size: int = 20000, lowercase: bool = True, max_len: int = 128, val_fraction: float = 0.05,
            n_train: int | None = None) -> TextSplits:
    folder = ensure_ag_news(Path(root), download)
    tr_x, tr_y = read_ag_news(folder / "train.csv")
    te_x, te_y = read_ag_news(folder / "test.csv")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(tr_x))
    n_val = max(1, int(round(val_fraction * len(tr_x))))
    val_ix, train_ix = order[:n_val], order[n_val:]
    if n_train:
        train_ix = train_ix[:n_train]
    parts = {"train": ([tr_x[i] for i in np.sort(train_ix)], [tr_y[i] for i in np.sort(train_ix)]),
             "val": ([tr_x[i] for i in np.sort(val_ix)], [tr_y[i] for i in np.sort(val_ix)]),
             "test": (te_x, te_y)}
    tok = train_tokenizer(tokenizer, parts["train"][0], min_freq=min_freq, vocab_size=vocab_size,
                          lowercase=lowercase)
    fields = {}
    for split, (xs, ys) in parts.items():
        seqs = [tok.encode(t)[:max_len] for t in xs]
        fields[split] = {"x": pad(seqs), "x_len": lengths_of(seqs), "y": torch.as_tensor(ys, dtype=torch.long)}
    f = fields
    return TextSplits(
        name="ag_news", task="classification",
        x_train=f["train"]["x"], y_train=f["train"]["y"], x_val=f["val"]["x"], y_val=f["val"]["y"],
        x_test=f["test"]["x"], y_test=f["test"]["y"], input_shape=tuple(f["train"]["x"].shape[1:]), num_outputs=4,
        class_names=CLASSES,
        meta={"vocab_size": tok.vocab_size, "pad_id": tok.pad_id, "max_len": max_len},
        fields=fields, sort_key="x_len", trim={"x": "x_len"}, tuple_keys=("x", "y"),
        texts={s: p[0] for s, p in parts.items()}, references={s: p[1] for s, p in parts.items()},
        tokenizers={"x": tok},
    )
