"""Named-entity recognition (``task=token_classification``): one IOB2 tag per word.

Training: the tagger's loss (per-token cross-entropy, or the CRF's negative log-likelihood) with word dropout
(``word_dropout``: training words replaced by ``<unk>`` at that rate, so the tagger learns to tag names it has
never seen from context and characters, as it must at test time). Evaluation: decoded tag sequences (argmax or
Viterbi) scored at the entity level in strict IOB2 (``precision``, ``recall``, ``f1`` and ``f1_<TYPE>`` per entity
type; seqeval's numbers, see ``nnml.tasks.text.metrics``) plus token accuracy. Artifacts: a table of tagged val
sentences every ``every_n_epochs`` and a tag confusion matrix at the end.
"""

from __future__ import annotations

import numpy as np
import torch

from nnml.errors import NnmlError
from nnml.tasks.base import Task
from nnml.tasks.capabilities import KeepsRecords
from nnml.tasks.text.data import load_tokenizers
from nnml.tasks.text.figures import confusion_figure, markdown_table
from nnml.tasks.text.metrics import entity_scores, iob2_spans
from nnml.tasks.text.ner import retokenized
from nnml.tasks.text.predict import TokenizerHolder, check_inputs
from nnml.tasks.text.tokenizers import UNK_ID, split_words


class TokenClassificationTask(TokenizerHolder, KeepsRecords, Task):
    uses_loss_config = False  # its own objective: a typed loss=... would be ignored
    default_monitor = "val/f1"

    def __init__(self, word_dropout: float = 0.1, every_n_epochs: int = 5, n_examples: int = 8):
        super().__init__()
        if not 0.0 <= float(word_dropout) < 1.0:
            raise NnmlError(f"task.word_dropout={word_dropout} is not valid; choose a value in [0, 1)")
        self.word_dropout = float(word_dropout)
        self.every_n_epochs = int(every_n_epochs)
        self.n_examples = int(n_examples)
        self.tag_names: list[str] = []
        self.entity_types: list[str] = []

    def setup(self, builder) -> None:
        data = builder.data
        if getattr(data, "task", None) != "tagging":
            raise NnmlError(f"task=token_classification needs tagged sentences; dataset={getattr(data, 'name', '?')}"
                            f" is {getattr(data, 'task', '?')} data (try dataset=faker_ner)")
        if builder.evaluating and builder.run_dir is not None:
            again = retokenized(data, load_tokenizers(builder.run_dir))
            if again is not None:  # the run's data could not be built again word for word (ner.retokenized)
                data = builder.data = again
        self.data = data
        self.set_tokenizers(data.tokenizers, None if builder.evaluating else builder.run_dir)
        self.tag_names = list(data.class_names)
        self.entity_types = sorted({t[2:] for t in self.tag_names if t != "O"})
        model = builder.model()
        for method in ("loss", "decode"):
            if not hasattr(model, method):
                raise NnmlError(f"model={type(model).__name__} is not a tagger (it has no {method}()); choose "
                                f"model=bilstm_tagger")
        self.modules = {"model": model}
        self.slots = {"model": builder.optimizer(model.parameters())}
        self.max_len = int(data.meta.get("max_len", 64))
        self.max_word_len = int(data.fields["train"]["chars"].shape[2])

    def batches(self, split: str, builder):
        return builder.data.batches(split, builder)

    def objective(self) -> str:
        crf = getattr(self.modules.get("model"), "crf", None) is not None
        return "CRF negative log-likelihood" if crf else "per-token cross_entropy"

    def example_inputs(self, data, split: str, n: int) -> tuple:
        fields = data.fields[split]
        words = fields["words"][:n]
        return (words, fields["chars"][:n]) if getattr(self.modules.get("model"), "uses_chars", False) else (words,)

    def metric_directions(self) -> dict[str, str]:
        out = {"loss": "min", "token_acc": "max", "precision": "max", "recall": "max", "f1": "max"}
        out.update({f"f1_{k}": "max" for k in self.entity_types})
        return out

    def batch_size(self, batch) -> int:
        return int(batch["words"].shape[0])

    # ------------------------------------------------------------------ steps
    @staticmethod
    def _mask(batch):
        return torch.arange(batch["words"].shape[1], device=batch["words"].device)[None] < batch["len"][:, None]

    def _emissions(self, model, batch, words=None):
        words = batch["words"] if words is None else words
        return model(words, batch["chars"] if getattr(model, "uses_chars", False) else None)

    def training_step(self, batch, ctx, metrics):
        mask = self._mask(batch)
        words = batch["words"]
        if self.word_dropout:
            drop = (torch.rand(words.shape, device=words.device) < self.word_dropout) & mask
            words = torch.where(drop, torch.full_like(words, UNK_ID), words)
        model = ctx.forward()
        em = self._emissions(model, batch, words)
        loss = self.modules["model"].loss(em, batch["tags"].clamp(min=0), mask)
        metrics.add("loss", loss.detach(), self.batch_size(batch))
        return loss

    def _decode_split(self, split: str, batches):
        model = self.modules["model"]
        n = self.data.fields[split]["words"].shape[0]
        pred = [None] * n
        loss_sum, count = 0.0, 0
        was = model.training
        model.eval()
        with torch.inference_mode():
            for batch in batches:
                mask = self._mask(batch)
                em = self._emissions(model, batch)
                k = self.batch_size(batch)
                loss_sum += float(model.loss(em, batch["tags"].clamp(min=0), mask)) * k
                count += k
                for i, p in zip(batch["index"].tolist(), model.decode(em, mask)):
                    pred[i] = [self.tag_names[t] for t in p]
        model.train(was)
        return pred, loss_sum / max(count, 1)

    def evaluate(self, split: str, ctx) -> dict[str, float]:
        pred, loss = self._decode_split(split, ctx.batches(split))
        gold_all = self.data.references[split]
        done = [i for i, p in enumerate(pred) if p is not None]
        gold = [gold_all[i][: self.max_len] for i in done]
        hyp = [pred[i] for i in done]
        scores = entity_scores(gold, hyp)
        right = sum(a == b for g, h in zip(gold, hyp) for a, b in zip(g, h))
        total = sum(len(g) for g in gold)
        out = {"loss": loss, "token_acc": right / max(total, 1), "precision": scores["precision"],
               "recall": scores["recall"], "f1": scores["f1"]}
        out.update({f"f1_{k}": scores.get(f"f1_{k}", 0.0) for k in self.entity_types})
        self._last = {"split": split, "pred": pred}
        if getattr(ctx, "recording", False):
            from nnml.tasks.text.records import tagging_records

            self.keep_split_records(split, tagging_records(gold, hyp, self.entity_types, index=done))
        return out

    def records_spec(self, split: str) -> dict:
        return {"kind": "tagging"}

    # ------------------------------------------------------------------ artifacts
    def _examples(self, split: str) -> str:
        last = getattr(self, "_last", None)
        if not last or last["split"] != split:
            return ""
        rows = []
        for i in range(min(self.n_examples, len(last["pred"]))):
            toks = self.data.texts[split][i]
            if last["pred"][i] is None:
                continue
            rows.append([" ".join(toks), _entities_text(toks, self.data.references[split][i]),
                         _entities_text(toks, last["pred"][i])])
        return markdown_table(["sentence", "gold entities", "predicted entities"], rows)

    def epoch_artifacts(self, epoch: int, ctx) -> dict:
        if self.every_n_epochs <= 0 or (epoch + 1) % self.every_n_epochs:
            return {}
        return {"text": {"entities/val": self._examples("val")}}

    def final_artifacts(self, ctx) -> dict:
        out = {"text": {}, "figures": {}}
        last = getattr(self, "_last", None)
        if last:
            split = last["split"]
            out["text"][f"entities/{split}"] = self._examples(split)
            k = len(self.tag_names)
            cm = np.zeros((k, k), dtype=np.int64)
            idx = {t: i for i, t in enumerate(self.tag_names)}
            for g, p in zip(self.data.references[split], last["pred"]):
                if p is not None:
                    for a, b in zip(g, p):
                        cm[idx[a], idx[b]] += 1
            out["figures"][f"tags/confusion_{split}"] = confusion_figure(cm, self.tag_names)
        return out

    # ------------------------------------------------------------------ state and use
    def state_dict(self) -> dict:
        return {"tokenizers": self.tokenizer_state(), "tag_names": list(self.tag_names),
                "max_len": int(getattr(self, "max_len", 64)), "max_word_len": int(getattr(self, "max_word_len", 16))}

    def load_state_dict(self, state: dict) -> None:
        self.load_tokenizer_state(state.get("tokenizers"))
        self.max_len = int(state.get("max_len", getattr(self, "max_len", 64)))
        self.max_word_len = int(state.get("max_word_len", getattr(self, "max_word_len", 16)))
        if state.get("tag_names"):
            self.tag_names = list(state["tag_names"])
            self.entity_types = sorted({t[2:] for t in self.tag_names if t != "O"})

    def predict(self, inputs: list[str], options: dict) -> list[dict]:
        """One row per input: its entities (``text [TYPE]``) and the IOB2 tag of every word. Words never seen in
        training are read as ``<unk>`` plus their characters (with a character encoder); a sentence longer than
        the model's maximum is tagged in its first ``max_len`` words, and the row says so."""
        from nnml.tasks.text.batches import pad

        texts = check_inputs(inputs)
        words_tok, chars_tok = self.tokenizers["words"], self.tokenizers["chars"]
        max_len = int(getattr(self, "max_len", 64))
        sents = [split_words(t) for t in texts]
        for i, s in enumerate(sents, 1):
            if not s:
                raise NnmlError(f"input {i} has no words to tag (only symbols the tokenizer skips)")
        cut = [s[:max_len] for s in sents]
        w = pad([words_tok.encode_tokens(s) for s in cut])
        cw = int(getattr(self, "max_word_len", 16))
        c = torch.zeros(len(cut), w.shape[1], cw, dtype=torch.long)
        for i, s in enumerate(cut):
            for j, tok in enumerate(s):
                ids = chars_tok.encode(tok)[:cw]
                c[i, j, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        dev = self.device
        batch = {"words": w.to(dev), "chars": c.to(dev), "len": torch.tensor([len(s) for s in cut], device=dev)}
        model = self.modules["model"]
        model.eval()
        with torch.inference_mode():
            em = self._emissions(model, batch)
            paths = model.decode(em, self._mask(batch))
        rows = []
        for t, s, p in zip(texts, cut, paths):
            tags = [self.tag_names[k] for k in p]
            rows.append({"input": t, "entities": _entities_text(s, tags),
                         "tags": " ".join(f"{a}/{b}" for a, b in zip(s, tags)),
                         "unknown_words": sum(words_tok.index.get(words_tok._norm(x), UNK_ID) == UNK_ID for x in s),
                         "truncated": len(s) < len(split_words(t))})
        return rows


def _entities_text(tokens: list[str], tags: list[str]) -> str:
    spans = sorted(iob2_spans(tags), key=lambda s: s[1])
    return "; ".join(f"{' '.join(tokens[a:b])} [{k}]" for k, a, b in spans) or "-"
