"""Text classification (``task=text_classification``): the supervised task on token ids, plus what text needs.

Training, metrics (accuracy, macro F1) and the confusion matrix are the supervised task's (``task=auto`` trains
the same data too). This adds length-bucketed padded batches from the dataset, the tokenizer kept with the run
(run folder and checkpoints) and ``nnml predict RUN_DIR "some text"``: the label with its probabilities.
"""

from __future__ import annotations

import torch

from nnml.errors import NnmlError
from nnml.tasks.supervised.task import SupervisedTask
from nnml.tasks.text.predict import TokenizerHolder, check_inputs


class TextClassificationTask(TokenizerHolder, SupervisedTask):
    def batches(self, split: str, builder):
        if hasattr(builder.data, "batches"):
            return builder.data.batches(split, builder)
        return super().batches(split, builder)

    def setup(self, builder) -> None:
        data = builder.data
        if "x" not in getattr(data, "tokenizers", {}):
            raise NnmlError(f"task=text_classification needs text data; dataset={data.name} has no tokenizer "
                            f"(try dataset=langid, or task=auto for tensors)")
        self.set_tokenizers(data.tokenizers, None if builder.evaluating else builder.run_dir)
        self.class_names = list(data.class_names)
        self.max_len = int(data.meta.get("max_len", 256))
        super().setup(builder)

    def state_dict(self) -> dict:
        return {"tokenizers": self.tokenizer_state(), "class_names": list(self.class_names), "max_len": self.max_len}

    def load_state_dict(self, state: dict) -> None:
        self.load_tokenizer_state(state.get("tokenizers"))
        self.class_names = list(state.get("class_names") or self.class_names)
        self.max_len = int(state.get("max_len", self.max_len))

    def predict(self, inputs: list[str], options: dict) -> list[dict]:
        """One row per input: the label, its probability and the ``--top K`` (default 3) most probable labels.
        Tokens the tokenizer never saw become ``<unk>`` (counted in ``unknown_tokens``); a text longer than
        the model's maximum length is cut to it (``truncated``)."""
        from nnml.tasks.text.batches import pad

        texts = check_inputs(inputs)
        tok = self.tokenizers["x"]
        k = max(1, min(int(options.get("top") or 3), len(self.class_names)))
        seqs, rows = [], []
        for t in texts:
            ids = tok.encode(t)
            seqs.append(ids[: self.max_len] or [tok.unk_id])
            rows.append({"input": t, "unknown_tokens": sum(i == tok.unk_id for i in ids),
                         "truncated": len(ids) > self.max_len})
        model = self.modules["model"]
        model.eval()
        with torch.inference_mode():
            probs = torch.softmax(model(pad(seqs).to(self.device)).float(), -1).cpu()
        for r, p in zip(rows, probs):
            top = p.topk(k)
            r["label"] = self.class_names[int(top.indices[0])]
            r["probability"] = float(top.values[0])
            r["top"] = {self.class_names[int(i)]: round(float(v), 4) for v, i in zip(top.values, top.indices)}
        return rows
