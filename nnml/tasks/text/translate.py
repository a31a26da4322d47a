"""Translation (``task=seq2seq``): an encoder-decoder trained with teacher forcing, evaluated by decoding.

Training: cross-entropy of every target token given the gold prefix (padding ignored, optional label
smoothing). Evaluation decodes each split greedily and, with ``beam > 1``, by beam search, and scores the
detokenized outputs against the raw references with sacrebleu (corpus BLEU and chrF, default tokenization) plus
exact match: ``bleu``/``chrf``/``exact`` are greedy, ``bleu_beam``/``chrf_beam``/``exact_beam`` beam search of
width ``beam`` (with ``beam=1`` the same as greedy, so every run reports the same keys).
Early stopping follows ``val/bleu`` by default (``trainer.monitor=val/chrf`` or ``val/bleu_beam`` to change).
Artifacts every ``every_n_epochs``: a source/reference/hypothesis table and attention heatmaps of a few val pairs
(models that return attention: the GRU). The sacrebleu signatures go into metrics.json (``sacrebleu``),
``RUN_DIR/sacrebleu.json`` and the final text artifacts.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from nnml.errors import NnmlError
from nnml.tasks.base import Task
from nnml.tasks.capabilities import KeepsRecords
from nnml.tasks.text import decode as dec
from nnml.tasks.text.figures import attention_heatmap, markdown_table
from nnml.tasks.text.metrics import translation_scores
from nnml.tasks.text.predict import TokenizerHolder, check_inputs
from nnml.tasks.text.tokenizers import PAD_ID

SCORES = ("bleu", "chrf", "exact")


class Seq2SeqTask(TokenizerHolder, KeepsRecords, Task):
    uses_loss_config = False  # its own objective: a typed loss=... would be ignored
    default_monitor = "val/bleu"

    def __init__(self, beam: int = 4, length_penalty: float = 0.6, max_decode_len: int | None = None,
                 label_smoothing: float = 0.0, every_n_epochs: int = 5, n_examples: int = 8,
                 n_heatmaps: int = 3):
        super().__init__()
        if int(beam) < 1:
            raise NnmlError(f"task.beam={beam} is not valid; choose a width of 1 (greedy) or more")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise NnmlError(f"task.label_smoothing={label_smoothing} is not valid; choose a value in [0, 1)")
        self.beam = int(beam)
        self.length_penalty = float(length_penalty)
        self.max_decode_len = max_decode_len
        self.label_smoothing = float(label_smoothing)
        self.every_n_epochs = int(every_n_epochs)
        self.n_examples = int(n_examples)
        self.n_heatmaps = int(n_heatmaps)
        self.signatures: dict = {}

    # ------------------------------------------------------------------ building
    def setup(self, builder) -> None:
        data = builder.data
        if getattr(data, "task", None) != "seq2seq":
            raise NnmlError(f"task=seq2seq needs translation pairs; dataset={getattr(data, 'name', '?')} is "
                            f"{getattr(data, 'task', '?')} data (try dataset=numbers or dataset=django_messages)")
        self.data = data
        self.set_tokenizers(data.tokenizers, None if builder.evaluating else builder.run_dir)
        model = builder.model()
        for method in ("encode", "step"):
            if not hasattr(model, method):
                raise NnmlError(f"model={type(model).__name__} cannot decode (it has no {method}()); choose "
                                f"model=gru_attention or model=transformer_seq2seq")
        self.modules = {"model": model}
        self.slots = {"model": builder.optimizer(model.parameters())}
        self.max_len = int(data.meta.get("max_len", 64))
        self.decode_len = int(self.max_decode_len or max(2 * data.meta.get("max_target_len", 32), 8))

    def batches(self, split: str, builder):
        return builder.data.batches(split, builder)

    def objective(self) -> str:
        return "per-token cross_entropy, teacher forcing"

    def metric_directions(self) -> dict[str, str]:
        out = {"loss": "min", "token_acc": "max"}
        out.update({k: "max" for k in SCORES})
        out.update({f"{k}_beam": "max" for k in SCORES})
        return out

    def batch_size(self, batch) -> int:
        return int(batch["src"].shape[0])

    # ------------------------------------------------------------------ steps
    def _loss(self, model, batch, acc: bool = True):
        """(teacher-forced cross-entropy, token accuracy or None when not ``acc``)."""
        tgt = batch["tgt"]
        logits = model(batch["src"], tgt[:, :-1])
        gold = tgt[:, 1:]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), gold.reshape(-1), ignore_index=PAD_ID,
                               label_smoothing=self.label_smoothing)
        if not acc:
            return loss, None
        mask = gold != PAD_ID
        return loss, ((logits.argmax(-1) == gold) & mask).sum() / mask.sum().clamp(min=1)

    def training_step(self, batch, ctx, metrics):
        loss, acc = self._loss(ctx.forward(), batch, acc=ctx.train_metrics)
        n = self.batch_size(batch)
        metrics.add("loss", loss.detach(), n)
        if acc is not None:
            metrics.add("token_acc", acc.detach(), n)
        return loss

    def translate(self, src: torch.Tensor, beam: int = 1, length_penalty: float | None = None,
                  max_len: int | None = None) -> list[str]:
        model = self.modules["model"]
        lp = self.length_penalty if length_penalty is None else length_penalty
        out = dec.decode(model, src, max_len or self.decode_len, beam=beam, length_penalty=lp)
        return [self.tokenizers["tgt"].decode(row) for row in out.tolist()]

    def evaluate(self, split: str, ctx) -> dict[str, float]:
        model = self.modules["model"]
        was_training = model.training
        model.eval()
        n = self.data.fields[split]["src"].shape[0]
        greedy, beam = [None] * n, [None] * n
        loss_sum = acc_sum = 0.0
        with torch.inference_mode():
            for batch in ctx.batches(split):
                loss, acc = self._loss(model, batch)
                k = self.batch_size(batch)
                loss_sum += float(loss) * k
                acc_sum += float(acc) * k
                idx = batch["index"].tolist()
                for i, h in zip(idx, self.translate(batch["src"])):
                    greedy[i] = h
                for i, h in zip(idx, self.translate(batch["src"], beam=self.beam)):
                    beam[i] = h  # width 1 is greedy again: the *_beam keys exist in every run of a sweep
        model.train(was_training)
        refs = self.data.references[split]
        done = [i for i in range(n) if greedy[i] is not None]  # a DDP rank scores its own shard
        g = translation_scores([greedy[i] for i in done], [refs[i] for i in done])
        self.signatures = g.pop("signatures")
        out = {"loss": loss_sum / max(len(done), 1), "token_acc": acc_sum / max(len(done), 1), **g}
        b = translation_scores([beam[i] for i in done], [refs[i] for i in done])
        b.pop("signatures")
        out.update({f"{k}_beam": v for k, v in b.items()})
        self._last = {"split": split, "greedy": greedy, "beam": beam}
        if getattr(ctx, "recording", False):
            from nnml.tasks.text.records import translation_records

            refs_done = [refs[i] for i in done]
            rec = translation_records([greedy[i] for i in done], refs_done, index=done)
            beam_rec = translation_records([beam[i] for i in done], refs_done, index=done)
            rec.update({f"beam/{k}": v for k, v in beam_rec.items() if k != "index"})
            self.keep_split_records(split, rec)
        self._write_signatures(ctx)
        return out

    def records_spec(self, split: str) -> dict:
        return {"kind": "translation"}

    def _write_signatures(self, ctx) -> None:
        run_dir = getattr(ctx, "run_dir", None)
        if run_dir:
            Path(run_dir, "sacrebleu.json").write_text(json.dumps(self.signatures, indent=2))

    def extra_metrics(self) -> dict:
        """sacrebleu's signatures (how BLEU and chrF were computed) for metrics.json."""
        return {"sacrebleu": dict(self.signatures)} if self.signatures else {}

    # ------------------------------------------------------------------ artifacts
    def _examples(self, split: str) -> str:
        last = getattr(self, "_last", None)
        if not last or last["split"] != split:
            return ""
        src, refs = self.data.texts[split], self.data.references[split]
        header = ["source", "reference", "greedy"] + (["beam"] if self.beam > 1 else [])
        rows = []
        for i in range(min(self.n_examples, len(src))):
            row = [src[i], refs[i], last["greedy"][i]]
            if self.beam > 1:
                row.append(last["beam"][i])
            rows.append(row)
        return markdown_table(header, rows)

    def _heatmaps(self, split: str) -> dict:
        model = self.modules["model"]
        n = min(self.n_heatmaps, len(self.data.texts[split]))
        if n == 0:
            return {}
        src = self.data.fields[split]["src"][:n].to(self.device)
        lens = self.data.fields[split]["src_len"][:n].tolist()
        was = model.training
        model.eval()
        tokens, attn = dec.greedy(model, src, self.decode_len, return_attention=True)
        model.train(was)
        if attn is None:
            return {}
        figs = {}
        src_tok, tgt_tok = self.tokenizers["src"], self.tokenizers["tgt"]
        for i in range(n):
            s = [src_tok.vocab[t] for t in src[i, : lens[i]].tolist()]
            row = tokens[i].tolist()
            stop = row.index(3) + 1 if 3 in row else len(row)
            h = [tgt_tok.vocab[t] for t in row[:stop]]
            figs[f"attention/{split}_{i}"] = attention_heatmap(attn[i].float().cpu().numpy(), s, h,
                                                               title=self.data.texts[split][i])
        return figs

    def epoch_artifacts(self, epoch: int, ctx) -> dict:
        if self.every_n_epochs <= 0 or (epoch + 1) % self.every_n_epochs:
            return {}
        return {"text": {"translations/val": self._examples("val")}, "figures": self._heatmaps("val")}

    def final_artifacts(self, ctx) -> dict:
        text = {"sacrebleu/signatures": markdown_table(["metric", "signature"], sorted(self.signatures.items()))}
        ex = self._examples("test")
        if ex:
            text["translations/test"] = ex
        return {"text": text, "figures": self._heatmaps("val")}

    # ------------------------------------------------------------------ state and use
    def state_dict(self) -> dict:
        return {"tokenizers": self.tokenizer_state(), "max_len": int(getattr(self, "max_len", 64)),
                "decode_len": int(getattr(self, "decode_len", 64))}

    def load_state_dict(self, state: dict) -> None:
        self.load_tokenizer_state(state.get("tokenizers"))
        self.max_len = int(state.get("max_len", getattr(self, "max_len", 64)))
        self.decode_len = int(state.get("decode_len", getattr(self, "decode_len", 64)))

    def predict(self, inputs: list[str], options: dict) -> list[dict]:
        """One row per input: its translation (``--beam N``: beam search of width N; 1 is greedy), how many of its
        tokens the tokenizer never saw in training (they become ``<unk>``) and whether it was cut to the
        model's maximum source length."""
        tok = self.tokenizers["src"]
        texts = check_inputs(inputs)
        beam = int(options.get("beam") or self.beam)
        if beam < 1:
            raise NnmlError(f"--beam {beam} is not valid; choose a width of 1 (greedy) or more")
        max_len = int(getattr(self, "max_len", 64))
        rows, seqs = [], []
        for t in texts:
            ids = tok.encode(t)
            seqs.append(ids[:max_len] or [tok.unk_id])
            rows.append({"input": t, "unknown_tokens": sum(i == tok.unk_id for i in ids),
                         "truncated": len(ids) > max_len})
        from nnml.tasks.text.batches import pad

        src = pad(seqs).to(self.device)
        model = self.modules["model"]
        model.eval()
        with torch.inference_mode():
            out = self.translate(src, beam=beam, max_len=int(options.get("max_len") or getattr(self, "decode_len", 64)))
        return [{"input": r["input"], "translation": h, "beam": beam, **{k: r[k] for k in ("unknown_tokens", "truncated")}}
                for r, h in zip(rows, out)]
