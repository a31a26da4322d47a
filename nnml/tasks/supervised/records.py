"""Per-sample records of a supervised evaluation, from which its metrics are recomputed exactly on any subset of
samples (what :func:`nnml.stats.paired_bootstrap` resamples).

Classification records (one row per test sample, in evaluation order)::

    index    int64 (N,)      position of the sample in the split
    target   int64 (N,)      true class
    pred     int64 (N,)      argmax of the model's outputs (what accuracy and F1 count)
    probs    float32 (N, C)  softmax of the outputs (C = number of classes; calibration, top-k, AUC)
    loss     float64 (N,)    optional: the per-sample loss, when the caller has it (reduction="none")

Regression records::

    index    int64 (N,)
    target   float64 (N, K)  K outputs per sample
    pred     float64 (N, K)
    loss     float64 (N,)    optional

:func:`metrics_from_records` gives what :class:`nnml.engine.metrics.MetricState` reports for the same samples:
``acc`` and ``f1`` (macro over the classes present in the targets or predictions), or ``mse``, ``mae`` and ``r2``
(each averaged over the K outputs), plus ``loss`` (the mean) when the records hold it.
"""

from __future__ import annotations

import numpy as np
import torch

from nnml.engine.metrics import accuracy_and_macro_f1
from nnml.errors import NnmlError

KINDS = ("classification", "regression")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise NnmlError(f"kind={kind} is not valid; choose one of: {', '.join(KINDS)}")


@torch.no_grad()
def records_from_batch(kind: str, outputs: torch.Tensor, targets: torch.Tensor, offset: int = 0,
                       losses: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """The records of one evaluation batch (``outputs`` as the model returns them, ``targets`` as the batch holds
    them); ``offset``: the index of the batch's first sample in the split. Join batches with
    :func:`nnml.stats.concat_records`."""
    _check_kind(kind)
    n = int(targets.shape[0])
    out: dict[str, np.ndarray] = {"index": np.arange(offset, offset + n, dtype=np.int64)}
    outputs = outputs.detach().float()
    if kind == "classification":
        out["target"] = targets.detach().long().cpu().numpy()
        out["pred"] = outputs.argmax(1).cpu().numpy().astype(np.int64)
        out["probs"] = torch.softmax(outputs, dim=1).cpu().numpy().astype(np.float32)
    else:
        out["target"] = targets.detach().double().reshape(n, -1).cpu().numpy()
        out["pred"] = outputs.double().reshape(n, -1).cpu().numpy()
    if losses is not None:
        losses = losses.detach().double().reshape(-1)
        if losses.numel() != n:
            raise NnmlError(f"losses holds {losses.numel()} values for a batch of {n}; give one loss per sample "
                            f"(reduction='none')")
        out["loss"] = losses.cpu().numpy()
    return out


def classification_metrics(records) -> dict[str, float]:
    """``acc``, ``f1`` (and ``loss``) of classification records (``target`` and ``pred`` are all they read)."""
    t, p = np.asarray(records["target"]), np.asarray(records["pred"])
    # Classes above the largest id seen are absent from targets and predictions: F1 leaves them out anyway.
    k = int(max(t.max(initial=0), p.max(initial=0))) + 1
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.float64)
    out = accuracy_and_macro_f1(cm)
    if "loss" in records:
        out["loss"] = float(np.mean(records["loss"]))
    return out


def regression_metrics(records) -> dict[str, float]:
    """``mse``, ``mae``, ``r2`` (and ``loss``) of regression records, each averaged over the outputs."""
    y, pred = np.asarray(records["target"], dtype=np.float64), np.asarray(records["pred"], dtype=np.float64)
    n = max(float(len(y)), 1.0)
    err = pred - y
    sq = (err * err).sum(0)
    # The same sums and guard as MetricState, so the numbers agree with what a run reports.
    ss_tot = (y * y).sum(0) - y.sum(0) ** 2 / n
    out = {"mse": float((sq / n).mean()), "mae": float((np.abs(err).sum(0) / n).mean()),
           "r2": float((1 - sq / np.maximum(ss_tot, 1e-12)).mean())}
    if "loss" in records:
        out["loss"] = float(np.mean(records["loss"]))
    return out


def metrics_from_records(kind: str, records) -> dict[str, float]:
    """The metrics of ``kind`` (``classification`` or ``regression``) from its records."""
    _check_kind(kind)
    return classification_metrics(records) if kind == "classification" else regression_metrics(records)
