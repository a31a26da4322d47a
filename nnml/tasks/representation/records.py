"""Per-sample records of a representation's probe evaluation, from which ``probe_acc`` and ``knn_acc`` are
recomputed exactly on any subset of evaluated samples (what :func:`nnml.stats.paired_bootstrap` resamples; the
metrics are accuracies, so :func:`nnml.stats.mcnemar_exact` applies to ``probe_pred == target`` directly).

Records (one row per sample of the evaluated split, in split order)::

    index         int64 (N,)   position of the sample in the split
    target        int64 (N,)   its label
    probe_pred    int64 (N,)   the linear probe's prediction (fitted on the train split's embeddings)
    knn_pred      int64 (N,)   the kNN prediction

The probe is fitted once on the train split; resampling the evaluated samples treats it as fixed (the paired
question: which encoder's probe does better on these samples).
"""

from __future__ import annotations

import numpy as np
import torch

from nnml.tasks.representation.probe import RepresentationProbe, fit_logistic, knn_predict, probe_predict, standardize


@torch.no_grad()
def probe_records(probe: RepresentationProbe, train_x: torch.Tensor, train_y: torch.Tensor, eval_x: torch.Tensor,
                  eval_y: torch.Tensor, num_classes: int) -> dict[str, np.ndarray]:
    """The records of ``probe`` on embeddings (the arguments of :meth:`RepresentationProbe.scores`, which gives the
    same accuracies): the same train rows, solver, precision and neighbours."""
    if probe.max_train and len(train_x) > probe.max_train:
        train_x, train_y = train_x[: probe.max_train], train_y[: probe.max_train]
    train_y, eval_y = train_y.to(train_x.device), eval_y.to(train_x.device)
    eval_x = eval_x.to(train_x.device)
    dtype = torch.float32  # what RepresentationProbe.scores fits in
    tr, ev = standardize(train_x.to(dtype), eval_x.to(dtype))
    w, b = fit_logistic(tr, train_y, int(num_classes), C=probe.C, max_iter=probe.max_iter, dtype=dtype)
    knn = knn_predict(train_x, train_y, eval_x, probe.knn_k, num_classes)
    return {"index": np.arange(len(eval_y), dtype=np.int64), "target": eval_y.cpu().numpy().astype(np.int64),
            "probe_pred": probe_predict(w, b, ev).cpu().numpy().astype(np.int64),
            "knn_pred": knn.cpu().numpy().astype(np.int64)}


def probe_metrics(records) -> dict[str, float]:
    """``probe_acc`` and ``knn_acc`` of probe records."""
    t = np.asarray(records["target"])
    n = max(t.size, 1)
    return {"probe_acc": float(np.sum(np.asarray(records["probe_pred"]) == t) / n),
            "knn_acc": float(np.sum(np.asarray(records["knn_pred"]) == t) / n)}
