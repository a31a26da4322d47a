"""``task=contrastive``: pretrain an encoder without labels on two augmented views of each sample.

Methods (``task.method``):
  ``simclr``   encoder -> projection head (MLP) -> NT-Xent over the 2N views of a batch (``temperature``)
  ``simsiam``  encoder -> projector -> predictor; negative cosine of one view's prediction and the other's
               projection with its gradient stopped (no negatives)
  ``vicreg``   encoder -> expander; invariance + variance + covariance terms (no negatives, no predictor)

The encoder is the model config with its classifier head dropped (``model=cnn1d``, ``cnn``, ``mlp`` or one's own);
views are made on the device from ``task.views`` (:mod:`nnml.tasks.representation.views`). Linear-probe and kNN accuracies,
with their random-encoder and raw-input baselines, are metrics (:mod:`nnml.tasks.representation.base`)::

    nnml train experiment=mnist1d_simclr
    nnml train experiment=mnist1d_simclr task.method=vicreg task.temperature=0.2 task.views.strength=1.5

The pretrained encoder is reused with ``model=pretrained model.encoder=RUN_DIR`` (:mod:`nnml.tasks.representation.encoder`).
"""

from __future__ import annotations

import torch
from torch import nn

from nnml.errors import NnmlError, bad_choice
from nnml.tasks.representation.base import RepresentationTask
from nnml.tasks.representation.losses import nt_xent, simsiam_loss, vicreg_loss
from nnml.tasks.representation.views import build_views

METHODS = ("simclr", "simsiam", "vicreg")


def mlp(sizes, batch_norm: bool, last_bn: bool = False) -> nn.Sequential:
    """Linear layers of ``sizes``; [batch norm] + ReLU between them (and batch norm after the last if asked)."""
    layers: list[nn.Module] = []
    last = len(sizes) - 2
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        norm = (batch_norm and i < last) or (last_bn and i == last)
        layers.append(nn.Linear(a, b, bias=not norm))  # batch norm's shift makes a bias redundant
        if norm:
            layers.append(nn.BatchNorm1d(b, affine=i < last))
        if i < last:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ContrastiveTask(RepresentationTask):
    def __init__(self, method: str = "simclr", temperature: float = 0.1, projection_hidden: int = 128,
                 projection_dim: int = 64, projection_layers: int = 2, batch_norm: bool = True,
                 predictor_hidden: int = 32, vicreg_weights=(25.0, 25.0, 1.0), views: dict | None = None,
                 probe: dict | None = None, embeddings: dict | None = None):
        super().__init__(probe=probe, embeddings=embeddings)
        if method not in METHODS:
            raise bad_choice("task.method", method, METHODS)
        if float(temperature) <= 0:
            raise NnmlError(f"task.temperature={temperature} is not valid; choose a number > 0 (SimCLR: 0.1-0.5)")
        if int(projection_layers) < 1:
            raise NnmlError(f"task.projection_layers={projection_layers} is not valid; choose 1 or more")
        if len(vicreg_weights) != 3:
            raise NnmlError(f"task.vicreg_weights={list(vicreg_weights)} is not valid; give [invariance, variance, "
                            f"covariance], e.g. [25, 25, 1]")
        self.method = method
        self.temperature = float(temperature)
        self.proj_hidden, self.proj_dim = int(projection_hidden), int(projection_dim)
        self.proj_layers, self.batch_norm = int(projection_layers), bool(batch_norm)
        self.pred_hidden = int(predictor_hidden)
        self.vicreg_weights = tuple(float(w) for w in vicreg_weights)
        self.views_cfg = dict(views or {})

    def setup(self, builder) -> None:
        self.views = build_views(self.views_cfg, builder.data.input_shape, builder.data.name)
        super().setup(builder)

    def build_heads(self, builder, embedding_dim: int) -> dict:
        sizes = [embedding_dim] + [self.proj_hidden] * (self.proj_layers - 1) + [self.proj_dim]
        # SimSiam ends its projector with batch norm (the paper's recipe); the predictor is a bottleneck MLP.
        heads = {"projector": mlp(sizes, self.batch_norm, last_bn=self.method == "simsiam")}
        if self.method == "simsiam":
            heads["predictor"] = mlp([self.proj_dim, self.pred_hidden, self.proj_dim], self.batch_norm)
        return heads

    def loss_terms(self) -> tuple[str, ...]:
        return ("invariance", "variance", "covariance") if self.method == "vicreg" else ()

    def describe(self) -> str:
        return f"contrastive ({self.method})"

    def ssl_loss(self, x, ctx, training: bool):
        v1, v2 = self.views.pair(x)
        n = x.shape[0]
        enc = ctx.forward("encoder") if training else self.modules["encoder"]
        proj = ctx.forward("projector") if training else self.modules["projector"]
        # Both views in one pass: one kernel launch per layer, and batch norm sees the 2N samples together.
        z = proj(enc(torch.cat([v1, v2])))
        z1, z2 = z[:n], z[n:]
        if self.method == "simclr":
            return nt_xent(z1, z2, self.temperature), {}
        if self.method == "simsiam":
            pred = ctx.forward("predictor") if training else self.modules["predictor"]
            p = pred(z)
            return simsiam_loss(p[:n], p[n:], z1, z2), {}
        loss, terms = vicreg_loss(z1, z2, *self.vicreg_weights)
        return loss, terms

