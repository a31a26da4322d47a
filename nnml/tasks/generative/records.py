"""Per-sample records of a VAE evaluation, from which its metrics are recomputed exactly on any subset of samples
(what :func:`nnml.stats.paired_bootstrap` resamples; the metrics are means, so a paired t interval of the
per-sample differences would do as well).

Records (one row per evaluated sample, in split order), in nats per sample::

    index    int64 (N,)     position of the sample in the split
    nelbo    float64 (N,)   -ELBO = rec + kl, one-sample estimate (the noise of VAETask.evaluate)
    rec      float64 (N,)   -log p(x | z), z ~ q(z | x)
    kl       float64 (N,)   KL(q(z | x) || p(z)), exact
    iw_nll   float64 (N,)   optional: the importance-weighted NLL bound (the test split)

:func:`vae_metrics` gives the means ``nelbo``, ``rec``, ``kl`` (and ``iw_nll``) and ``loss`` = rec + beta * kl, as
:class:`nnml.tasks.generative.vae.VAETask` reports them.
"""

from __future__ import annotations

import numpy as np
import torch

from nnml.errors import NnmlError


@torch.no_grad()
def vae_records(terms: dict[str, torch.Tensor], offset: int = 0,
                iw_nll: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """The records of one batch from :func:`nnml.tasks.generative.losses.vae_terms`' per-sample ``terms`` (and the
    batch's :func:`importance_weighted_nll`, when computed); ``offset``: the index of its first sample."""
    values = {k: terms[k].detach().double().reshape(-1) for k in ("nelbo", "rec", "kl")}
    if iw_nll is not None:
        values["iw_nll"] = iw_nll.detach().double().reshape(-1)
    n = int(values["nelbo"].numel())
    wrong = {k: int(v.numel()) for k, v in values.items() if v.numel() != n}
    if wrong:
        raise NnmlError(f"per-sample VAE terms of different lengths ({wrong}, nelbo: {n}); give one value per sample")
    return {"index": np.arange(offset, offset + n, dtype=np.int64), **{k: v.cpu().numpy() for k, v in values.items()}}


def vae_metrics(records, beta: float = 1.0) -> dict[str, float]:
    """The means of the records' terms and ``loss`` = rec + beta * kl (the task's ``beta``)."""
    out = {k: float(np.mean(records[k])) for k in ("nelbo", "rec", "kl", "iw_nll") if k in records}
    out["loss"] = out["rec"] + float(beta) * out["kl"]
    return out
