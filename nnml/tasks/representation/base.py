"""What every pretraining task shares: an encoder built from the model config (head dropped), the probe and kNN
metrics with their raw-input and random-encoder baselines, the embedding artifacts, and the facts a later run
needs to rebuild the encoder (``nnml.tasks.representation.encoder.load_encoder``).

Metrics (``val/`` during training, ``test/`` at the end, all "max"):
  ``probe_acc``, ``knn_acc``                  the encoder being trained
  ``probe_acc_random``, ``knn_acc_random``    the same encoder at its random initialisation
  ``probe_acc_raw``, ``knn_acc_raw``          the raw (flattened) inputs
The baselines are computed once per split and kept in the checkpoint.
"""

from __future__ import annotations

import copy

import torch

from nnml.errors import NnmlError
from nnml.tasks.base import Task
from nnml.tasks.capabilities import KeepsRecords
from nnml.tasks.representation.encoder import strip_head
from nnml.tasks.representation.probe import RepresentationProbe, embed
from nnml.tasks.representation.records import probe_metrics, probe_records

PROBE_METRICS = ("probe_acc", "knn_acc")
BASELINES = ("random", "raw")


class RepresentationTask(KeepsRecords, Task):
    """Base of ``task=contrastive`` and ``task=autoencoder``. Subclasses build their extra modules in
    :meth:`build_heads` and implement :meth:`ssl_loss` (loss, dict of logged terms) for a batch of inputs."""
    uses_loss_config = False  # its own objective: a typed loss=... would be ignored

    def __init__(self, probe: dict | None = None, embeddings: dict | None = None):
        super().__init__()
        probe = dict(probe or {})
        self.probe_every = int(probe.pop("every_n_epochs", 1))
        self.baselines = bool(probe.pop("baselines", True))
        self.probe_enabled = bool(probe.pop("enabled", True))
        if self.probe_every < 0:
            raise NnmlError(f"task.probe.every_n_epochs={self.probe_every} is not valid; choose 0 (only at the "
                            f"end) or N >= 1")
        unknown = sorted(set(probe) - {"C", "max_iter", "knn_k", "max_train"})
        if unknown:
            raise NnmlError(f"task.probe.{unknown[0]} is not a key of task.probe; its keys are: C, max_iter, knn_k, "
                            f"max_train, every_n_epochs, baselines, enabled")
        self.probe = RepresentationProbe(**probe)
        emb = dict(embeddings or {})
        self.emb_every = int(emb.get("every_n_epochs", 0))
        self.emb_max_points = int(emb.get("max_points", 1000))
        self.emb_plot = str(emb.get("plot", "pca"))
        if self.emb_plot not in ("pca", "tsne", "none"):
            from nnml.errors import bad_choice

            raise bad_choice("task.embeddings.plot", self.emb_plot, ["pca", "tsne", "none"])
        self._baseline_scores: dict[str, dict[str, float]] = {}
        self._last_probe: dict[str, dict[str, float]] = {}
        self._training_epoch: int | None = None  # the epoch index of the last training step

    # ------------------------------------------------------------------ building
    def setup(self, builder) -> None:
        data = builder.data
        self.data = data
        self.num_classes = int(data.num_outputs) if data.y_train is not None and data.task == "classification" else 0
        if not self.num_classes:
            self.probe_enabled = False  # no labels: the probe has nothing to score (the loss is still logged)
        # The run's seed fixes the initial weights here too (nnml train seeds just before setup; nnml eval may
        # not): the random-encoder baseline is then the same network in training and in a later evaluation.
        torch.manual_seed(builder.seed)
        model = builder.model()
        self.encoder_facts = {k: (list(v) if isinstance(v, tuple) else v) for k, v in data.facts().items()
                              if isinstance(v, (int, float, str, bool, tuple, list))}
        self.encoder_facts["dataset"] = str(data.name)
        encoder = strip_head(model, data.input_shape, name="model")
        self.modules = {"encoder": encoder, **self.build_heads(builder, encoder.out_dim)}
        for m in self.modules.values():
            m.to(builder.device)
        # The encoder as it starts: the random-initialisation baseline (not trained, not checkpointed).
        self.random_encoder = copy.deepcopy(encoder).eval() if self.probe_enabled and self.baselines else None
        params = [p for m in self.modules.values() for p in m.parameters() if p.requires_grad]
        self.slots = {"main": builder.optimizer(params)}

    def build_heads(self, builder, embedding_dim: int) -> dict:
        return {}

    def describe(self) -> str:
        """A few words for figure titles, e.g. "contrastive (simclr)"."""
        return type(self).__name__

    def objective(self) -> str:
        return self.describe()

    @property
    def primary(self) -> str:
        return "encoder"

    @property
    def default_monitor(self) -> str:  # type: ignore[override]
        return "val/probe_acc" if self.probe_enabled else "val/loss"

    # ------------------------------------------------------------------ metrics
    def loss_terms(self) -> tuple[str, ...]:
        return ()

    def metric_directions(self) -> dict[str, str]:
        out = {"loss": "min", **{t: "min" for t in self.loss_terms()}}
        if self.probe_enabled:
            out.update({m: "max" for m in PROBE_METRICS})
            if self.baselines:
                out.update({f"{m}_{b}": "max" for m in PROBE_METRICS for b in BASELINES})
        return out

    # ------------------------------------------------------------------ steps
    def batches(self, split: str, builder):
        # Training reads the inputs alone: a gather of the labels each step would be work for nothing (the probe
        # reads the labelled splits directly).
        data = builder.data
        if split == "train" and not builder.evaluating and not hasattr(data, "batches"):
            return builder.tensor_batches(split, (data.split(split)[0],))
        return super().batches(split, builder)

    @staticmethod
    def inputs(batch) -> torch.Tensor:
        if isinstance(batch, dict):
            return batch["x"]
        return batch[0] if isinstance(batch, (tuple, list)) else batch

    def ssl_loss(self, x: torch.Tensor, ctx, training: bool) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def training_step(self, batch, ctx, metrics):
        self._training_epoch = ctx.epoch
        x = self.inputs(batch)
        loss, terms = self.ssl_loss(x, ctx, training=True)
        n = x.shape[0]
        metrics.add("loss", loss.detach(), n)
        for k, v in terms.items():
            metrics.add(k, v.detach() if isinstance(v, torch.Tensor) else v, n)
        return loss

    def validation_step(self, batch, ctx, metrics) -> None:
        x = self.inputs(batch)
        loss, terms = self.ssl_loss(x, ctx, training=False)
        metrics.add("loss", loss, x.shape[0])
        for k, v in terms.items():
            metrics.add(k, v, x.shape[0])

    def evaluate(self, split: str, ctx) -> dict[str, float]:
        # The views of an evaluation are random too: draw them from a fixed seed, apart from the training RNG, so
        # that val/loss compares epochs on the same views and evaluating does not change what training draws.
        devices = [ctx.device] if ctx.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(1234)
            out = super().evaluate(split, ctx)
        if self.probe_enabled:
            if getattr(ctx, "recording", False):  # the final evaluation: the probe's per-sample predictions
                rec = self.probe_records(split)
                self.keep_split_records(split, rec)
                self._last_probe[split] = probe_metrics(rec)
            elif split != "val" or self._probe_due(ctx):
                self._last_probe[split] = self.probe_scores(split)
            out.update(self._last_probe.get(split, {m: float("nan") for m in PROBE_METRICS}))
            if self.baselines:
                out.update(self.baseline_scores(split))
        return out

    def _probe_due(self, ctx) -> bool:
        if self._training_epoch != ctx.epoch:
            return True  # not the validation of the epoch just trained: the final one (best weights), or eval
        done = int(ctx.epoch) + 1  # the loop validates before it counts the epoch as finished
        last = done >= int(ctx.max_epochs)
        return last or (self.probe_every > 0 and done % self.probe_every == 0) or "val" not in self._last_probe

    # ------------------------------------------------------------------ probe
    def _embed_split(self, encoder, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.data.split(split)
        return embed(encoder, x, device=self.device), y.to(self.device)

    def probe_scores(self, split: str, encoder=None) -> dict[str, float]:
        encoder = encoder or self.modules["encoder"]
        tr_x, tr_y = self._embed_split(encoder, "train")
        ev_x, ev_y = self._embed_split(encoder, split)
        return self.probe.scores(tr_x, tr_y, ev_x, ev_y, self.num_classes)

    def probe_records(self, split: str, encoder=None) -> dict:
        """The probe's per-sample predictions on ``split`` (``nnml/tasks/representation/records.py``); their
        accuracies are :meth:`probe_scores`'."""
        encoder = encoder or self.modules["encoder"]
        tr_x, tr_y = self._embed_split(encoder, "train")
        ev_x, ev_y = self._embed_split(encoder, split)
        return probe_records(self.probe, tr_x, tr_y, ev_x, ev_y, self.num_classes)

    def records_spec(self, split: str) -> dict:
        return {"kind": "probe"}

    def baseline_scores(self, split: str) -> dict[str, float]:
        if split not in self._baseline_scores:
            out = {}
            rnd = self.probe_scores(split, self.random_encoder) if self.random_encoder is not None else {}
            out.update({f"{k}_random": v for k, v in rnd.items()})
            (xtr, ytr), (xev, yev) = self.data.split("train"), self.data.split(split)
            raw = self.probe.scores(xtr.flatten(1).to(self.device), ytr.to(self.device), xev.flatten(1).to(self.device),
                                    yev.to(self.device), self.num_classes)
            out.update({f"{k}_raw": v for k, v in raw.items()})
            self._baseline_scores[split] = out
        return dict(self._baseline_scores[split])

    # ------------------------------------------------------------------ artifacts
    def epoch_artifacts(self, epoch: int, ctx) -> dict:
        if self.emb_every > 0 and epoch % self.emb_every == 0 and epoch < int(ctx.max_epochs):
            return self.embedding_artifacts("val", f"epoch_{epoch:03d}")
        return {}

    def final_artifacts(self, ctx) -> dict:
        return self.embedding_artifacts("test", "test")

    def embedding_artifacts(self, split: str, tag: str) -> dict:
        """The projector's embeddings (with labels and, for images, a sprite) and a 2-D PCA or t-SNE figure."""
        from nnml.tasks.representation.figures import embedding_figure, sprite_images

        x, y = self.data.split(split)
        n = min(len(x), self.emb_max_points)
        z = embed(self.modules["encoder"], x[:n], device=self.device).cpu()
        labels = [self.data.class_names[int(c)] if self.data.class_names else str(int(c)) for c in y[:n]] \
            if y is not None else [""] * n
        out: dict = {"embeddings": {f"{tag}/embeddings": (z, labels, sprite_images(x[:n]))}}
        if self.emb_plot != "none":
            out["figures"] = {f"{tag}/embeddings_{self.emb_plot}": embedding_figure(
                z, y[:n] if y is not None else None, self.emb_plot, f"{self.data.name} {split}: {self.describe()}",
                self.data.class_names)}
        return out

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {"encoder_facts": dict(self.encoder_facts), "baselines": copy.deepcopy(self._baseline_scores),
                "last_probe": copy.deepcopy(self._last_probe)}

    def load_state_dict(self, state: dict) -> None:
        self._baseline_scores = copy.deepcopy(dict(state.get("baselines") or {}))
        self._last_probe = copy.deepcopy(dict(state.get("last_probe") or {}))
