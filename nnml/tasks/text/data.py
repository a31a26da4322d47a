"""What a text dataset builder returns: :class:`TextSplits`, a :class:`~nnml.data.base.DataSplits` that also holds
the padded fields of every split, the raw texts, and the tokenizers trained on the train split.

``batches(split, builder)`` gives a length-bucketed :class:`~nnml.tasks.text.batches.BucketBatches` (the default
``Task.batches`` uses it); on the training split it also writes the tokenizers into the run folder
(``tokenizer_<name>.json``), so ``nnml eval`` and ``nnml predict`` read the vocabulary the model was trained with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nnml.data.base import DataSplits
from nnml.tasks.text.batches import BucketBatches, pad
from nnml.tasks.text.tokenizers import Tokenizer, from_dict


@dataclass
class TextSplits(DataSplits):
    #: split -> field name -> tensor (padded (N, L[, C]) ids, (N,) lengths or labels)
    fields: dict = field(default_factory=dict)
    #: the length field that buckets batches, and padded field -> its length field (batches are cut to it)
    sort_key: str = "x_len"
    trim: dict = field(default_factory=dict)
    #: fields yielded as a tuple (the supervised task's (x, y)); None: a dict
    tuple_keys: tuple | None = None
    #: split -> the raw inputs (strings, or token lists) and references (labels, target strings, tag lists)
    texts: dict = field(default_factory=dict)
    references: dict = field(default_factory=dict)
    #: name -> tokenizer trained on the train split ("src", "tgt", "words", "chars", ...)
    tokenizers: dict = field(default_factory=dict)
    batch_size: int = 64
    eval_batch_size: int | None = None

    def batches(self, split: str, builder):
        if split == "train" and builder.run_dir is not None and not builder.evaluating:
            self.save_tokenizers(Path(builder.run_dir))
        ds = builder.cfg.get("dataset", {})
        bs = int(ds.get("batch_size") or self.batch_size)
        if split != "train":
            bs = int(ds.get("eval_batch_size") or self.eval_batch_size or max(bs, 256))
        f = self.fields[split]
        return BucketBatches(f, f[self.sort_key], batch_size=bs, shuffle=split == "train", seed=int(builder.seed),
                             device=builder.device, trim=self.trim, as_tuple=self.tuple_keys)

    def save_tokenizers(self, folder: Path) -> None:
        for name, tok in self.tokenizers.items():
            tok.save(folder / f"tokenizer_{name}.json")

    def tokenizer_state(self) -> dict:
        """Tokenizers as plain data (checkpoint extra state)."""
        return {name: json.dumps(t.to_dict(), ensure_ascii=False) for name, t in self.tokenizers.items()}


def load_tokenizers(folder: Path) -> dict[str, Tokenizer]:
    """The tokenizers a run folder holds, by name."""
    out = {}
    for p in sorted(Path(folder).glob("tokenizer_*.json")):
        out[p.stem[len("tokenizer_"):]] = from_dict(json.loads(p.read_text()))
    return out


def lengths_of(seqs) -> torch.Tensor:
    return torch.tensor([max(len(s), 1) for s in seqs], dtype=torch.long)


def labelled_texts(name: str, texts: list[str], y, parts: dict, tok, class_names, max_len: int,
                   empty_as_unk: bool = False) -> TextSplits:
    """TextSplits of text classification: ``parts`` split -> indices into ``texts`` and labels ``y``, encoded by
    ``tok`` (trained on the train texts) and cut at ``max_len`` tokens; ``empty_as_unk``: a text the tokenizer
    drops whole becomes one unknown token instead of an empty sequence."""
    fields, raw, refs = {}, {}, {}
    for split, ix in parts.items():
        seqs = [tok.encode(texts[i])[:max_len] or ([tok.unk_id] if empty_as_unk else []) for i in ix]
        fields[split] = {"x": pad(seqs), "x_len": lengths_of(seqs), "y": torch.as_tensor(y[ix], dtype=torch.long)}
        raw[split] = [texts[i] for i in ix]
        refs[split] = [int(v) for v in y[ix]]
    f = fields
    return TextSplits(
        name=name, task="classification",
        x_train=f["train"]["x"], y_train=f["train"]["y"], x_val=f["val"]["x"], y_val=f["val"]["y"],
        x_test=f["test"]["x"], y_test=f["test"]["y"],
        input_shape=tuple(f["train"]["x"].shape[1:]), num_outputs=len(class_names), class_names=list(class_names),
        meta={"vocab_size": tok.vocab_size, "pad_id": tok.pad_id, "max_len": max_len},
        fields=fields, sort_key="x_len", trim={"x": "x_len"}, tuple_keys=("x", "y"), texts=raw, references=refs,
        tokenizers={"x": tok},
    )
