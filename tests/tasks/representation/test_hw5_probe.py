"""The linear probe and kNN against scikit-learn on the same features."""

import numpy as np
import pytest
import torch

from nnml.tasks.representation.probe import (
    RepresentationProbe,
    embed,
    fit_logistic,
    knn_predict,
    linear_probe,
    standardize,
)


def _blobs(n=500, d=24, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    centres = torch.randn(k, d, generator=g)
    x = centres[y] * 0.8 + 1.3 * torch.randn(n, d, generator=g) + 2.0  # overlapping classes, not centred
    return x[:350], y[:350], x[350:], y[350:]


@pytest.mark.parametrize("C", [0.05, 1.0])
def test_probe_equals_sklearn_logistic_regression(C):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    # float64 features: scikit-learn's L-BFGS stops early on float32 input (its objective's precision)
    xtr, ytr, xte, yte = (t.double() if t.is_floating_point() else t for t in _blobs())
    scaler = StandardScaler().fit(xtr.numpy())
    ref = LogisticRegression(C=C, max_iter=5000, tol=1e-10).fit(scaler.transform(xtr.numpy()), ytr.numpy())
    tr, te = standardize(xtr, xte)
    w, b = fit_logistic(tr, ytr, 5, C=C)
    np.testing.assert_allclose(w.numpy(), ref.coef_, atol=1e-4)
    proba = torch.softmax(te.double() @ w.T + b, 1).numpy()
    np.testing.assert_allclose(proba, ref.predict_proba(scaler.transform(xte.numpy())), atol=1e-5)
    acc = ref.score(scaler.transform(xte.numpy()), yte.numpy())
    assert linear_probe(xtr, ytr, xte, yte, 5, C=C) == pytest.approx(acc, abs=1.5 / len(yte))


@pytest.mark.parametrize("k", [1, 7, 20])
def test_knn_equals_sklearn_cosine(k):
    from sklearn.neighbors import KNeighborsClassifier

    xtr, ytr, xte, yte = _blobs(seed=k)
    ref = KNeighborsClassifier(n_neighbors=k, metric="cosine").fit(xtr.numpy(), ytr.numpy()).predict(xte.numpy())
    np.testing.assert_array_equal(knn_predict(xtr, ytr, xte, k).numpy(), ref)
    # In chunks the answer is the same.
    np.testing.assert_array_equal(knn_predict(xtr, ytr, xte, k, chunk=16).numpy(), ref)


def test_knn_vote_ties_go_to_the_smaller_label_as_in_sklearn():
    from sklearn.neighbors import KNeighborsClassifier

    xtr = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.2]])
    ytr = torch.tensor([2, 1, 0, 3])
    xte = torch.tensor([[1.0, 0.9], [0.2, 1.0]])
    ref = KNeighborsClassifier(n_neighbors=2, metric="cosine").fit(xtr.numpy(), ytr.numpy()).predict(xte.numpy())
    np.testing.assert_array_equal(knn_predict(xtr, ytr, xte, 2).numpy(), ref)


def test_probe_scores_and_bad_keys():
    from nnml.errors import NnmlError

    xtr, ytr, xte, yte = _blobs()
    s = RepresentationProbe(knn_k=5).scores(xtr, ytr, xte, yte, 5)
    assert set(s) == {"probe_acc", "knn_acc"} and 0.5 < s["probe_acc"] <= 1 and 0.3 < s["knn_acc"] <= 1
    # Shuffled labels: a probe of noise is near chance.
    perm = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(0))
    assert RepresentationProbe().scores(xtr, ytr[perm], xte, yte, 5)["probe_acc"] < 0.45
    with pytest.raises(NnmlError, match="task.probe.knn_k=0"):
        RepresentationProbe(knn_k=0)
    with pytest.raises(NnmlError, match="task.probe.C=-1"):
        RepresentationProbe(C=-1)


def test_embed_uses_eval_mode_and_batches():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Dropout(0.5))
    x = torch.randn(50, 3)
    out = embed(net, x, batch_size=7)
    net.eval()
    torch.testing.assert_close(out, net(x))
    assert net.training is False  # restored as it was
    net.train()
    embed(net, x)
    assert net.training
