"""Probe records reproduce RepresentationProbe.scores (tested against scikit-learn in test_hw5_probe.py) and
recompute the accuracies on any subset of evaluated samples."""

import numpy as np
import pytest
import torch

from nnml import stats
from nnml.tasks.representation.probe import RepresentationProbe, knn_accuracy
from nnml.tasks.representation.records import probe_metrics, probe_records


def _blobs(n=400, d=16, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    x = torch.randn(k, d, generator=g)[y] * 0.8 + 1.3 * torch.randn(n, d, generator=g)
    return x[:300], y[:300], x[300:], y[300:]


@pytest.mark.parametrize("max_train", [None, 120])
def test_probe_records_reproduce_the_probe_scores(max_train):
    xtr, ytr, xev, yev = _blobs()
    probe = RepresentationProbe(C=0.5, max_iter=50, knn_k=7, max_train=max_train)
    rec = probe_records(probe, xtr, ytr, xev, yev, 4)
    assert probe_metrics(rec) == probe.scores(xtr, ytr, xev, yev, 4)
    idx = np.random.default_rng(0).integers(0, 100, 100)
    sub = probe_metrics(stats.take(rec, idx))
    train = (xtr[:max_train], ytr[:max_train]) if max_train else (xtr, ytr)
    assert sub["knn_acc"] == pytest.approx(knn_accuracy(*train, xev[idx], yev[idx], 7, 4), abs=1e-12)
    assert sub["probe_acc"] == pytest.approx(float(np.mean(rec["probe_pred"][idx] == yev.numpy()[idx])), abs=1e-12)
