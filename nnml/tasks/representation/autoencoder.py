"""``task=autoencoder``: pretrain an encoder by reconstructing its input through a bottleneck.

The encoder is the model config with its classifier head dropped; its output is the code, so the bottleneck is the
model's last hidden size (``model=mlp model.hidden=[128,16]``: a 16-number code). An MLP decoder
(``task.decoder_hidden``) maps the code back to the input, and the loss is the mean squared error on the
(standardized) input. Kinds (``task.kind``):
  ``plain``      reconstruct x from x
  ``denoising``  reconstruct x from a corrupted x: Gaussian noise of std ``task.noise`` and/or a share
                 ``task.mask`` of features set to 0 (Vincent et al., 2008)
  ``sparse``     plain, plus ``task.sparsity`` x the mean absolute code (an L1 penalty on the activations)

Metrics: ``loss`` (the objective), ``recon`` (MSE of the clean reconstruction), ``code_l1`` (mean |code|), and
the probe/kNN accuracies of :mod:`nnml.tasks.representation.base`::

    nnml train task=autoencoder dataset=digits model=mlp model.hidden=[128,32] task.kind=denoising task.noise=0.5
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nnml.errors import NnmlError, bad_choice
from nnml.tasks.representation import view_ops
from nnml.tasks.representation.base import RepresentationTask

KINDS = ("plain", "denoising", "sparse")


class AutoencoderTask(RepresentationTask):
    def __init__(self, kind: str = "plain", decoder_hidden=(128,), noise: float = 0.3, mask: float = 0.0,
                 sparsity: float = 1e-3, probe: dict | None = None, embeddings: dict | None = None):
        super().__init__(probe=probe, embeddings=embeddings)
        if kind not in KINDS:
            raise bad_choice("task.kind", kind, KINDS)
        for key, v in (("noise", noise), ("mask", mask), ("sparsity", sparsity)):
            if float(v) < 0:
                raise NnmlError(f"task.{key}={v} is not valid; choose a number >= 0")
        if not float(mask) < 1:
            raise NnmlError(f"task.mask={mask} is not valid; choose a share of features in [0, 1)")
        if kind == "denoising" and float(noise) == 0 and float(mask) == 0:
            raise NnmlError("task.kind=denoising needs a corruption: set task.noise > 0 or task.mask > 0")
        self.kind = kind
        self.decoder_hidden = [int(h) for h in ([decoder_hidden] if isinstance(decoder_hidden, int)
                                                else decoder_hidden or [])]
        self.noise, self.mask, self.sparsity = float(noise), float(mask), float(sparsity)

    def build_heads(self, builder, embedding_dim: int) -> dict:
        self.input_shape = tuple(builder.data.input_shape)
        sizes = [embedding_dim, *self.decoder_hidden, math.prod(self.input_shape)]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return {"decoder": nn.Sequential(*layers)}

    def loss_terms(self) -> tuple[str, ...]:
        return ("recon", "code_l1")

    def describe(self) -> str:
        return f"autoencoder ({self.kind})"

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind != "denoising":
            return x
        return view_ops.noise(view_ops.feature_mask(x, self.mask), self.noise)

    def ssl_loss(self, x, ctx, training: bool):
        enc = ctx.forward("encoder") if training else self.modules["encoder"]
        dec = ctx.forward("decoder") if training else self.modules["decoder"]
        code = enc(self.corrupt(x))
        recon = F.mse_loss(dec(code).view_as(x), x)
        l1 = code.abs().mean()
        loss = recon + self.sparsity * l1 if self.kind == "sparse" else recon
        return loss, {"recon": recon.detach(), "code_l1": l1.detach()}
