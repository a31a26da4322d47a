"""Supervised records reproduce MetricState (the metrics a run reports) and scikit-learn on any subset of samples,
duplicates included (a bootstrap resample)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score

from nnml import stats
from nnml.engine.metrics import MetricState
from nnml.errors import NnmlError
from nnml.tasks.supervised.records import metrics_from_records, records_from_batch


def _batched_records(kind, outputs, targets, batch=64, with_loss=False):
    parts = []
    for i in range(0, len(targets), batch):
        o, t = outputs[i:i + batch], targets[i:i + batch]
        loss = None
        if with_loss:
            loss = F.cross_entropy(o, t, reduction="none") if kind == "classification" else \
                ((o - t) ** 2).mean(1)
        parts.append(records_from_batch(kind, o, t, offset=i, losses=loss))
    return stats.concat_records(parts)


def _metric_state(kind, outputs, targets, k):
    ms = MetricState(kind, k, "cpu")
    for i in range(0, len(targets), 50):
        o, t = outputs[i:i + 50], targets[i:i + 50]
        loss = F.cross_entropy(o, t) if kind == "classification" else ((o - t) ** 2).mean()
        ms.update(o, t, loss)
    return ms.compute()


@pytest.mark.parametrize("seed", range(3))
def test_classification_records_reproduce_metricstate_and_sklearn(seed):
    g = torch.Generator().manual_seed(seed)
    n, k = 300, 6
    logits = torch.randn(n, k, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    logits[torch.arange(n), y] += 1.0
    logits[:, k - 1] -= 10  # one class never predicted: F1's "present classes" matter
    rec = _batched_records("classification", logits, y, with_loss=True)
    assert np.array_equal(rec["index"], np.arange(n)) and rec["probs"].shape == (n, k)
    np.testing.assert_allclose(rec["probs"].sum(1), 1.0, rtol=1e-6)
    rng = np.random.default_rng(seed)
    for idx in (np.arange(n), rng.integers(0, n, n), rng.choice(n, 40, replace=False)):
        ours = metrics_from_records("classification", stats.take(rec, idx))
        want = _metric_state("classification", logits[idx], y[idx], k)
        assert ours["acc"] == pytest.approx(want["acc"], abs=1e-12)
        assert ours["f1"] == pytest.approx(want["f1"], abs=1e-12)
        assert ours["loss"] == pytest.approx(want["loss"], rel=1e-6)
        pred = logits[idx].argmax(1).numpy()
        assert ours["acc"] == pytest.approx(accuracy_score(y[idx].numpy(), pred), abs=1e-12)
        assert ours["f1"] == pytest.approx(f1_score(y[idx].numpy(), pred, average="macro"), abs=1e-12)


@pytest.mark.parametrize("outputs", [1, 3])
def test_regression_records_reproduce_metricstate_and_sklearn(outputs):
    g = torch.Generator().manual_seed(outputs)
    y = torch.randn(200, outputs, generator=g) * torch.arange(1, outputs + 1)
    pred = y + 0.4 * torch.randn(200, outputs, generator=g)
    rec = _batched_records("regression", pred, y)
    rng = np.random.default_rng(outputs)
    for idx in (np.arange(200), rng.integers(0, 200, 200)):
        ours = metrics_from_records("regression", stats.take(rec, idx))
        want = _metric_state("regression", pred[idx], y[idx], outputs)
        for name in ("mse", "mae", "r2"):
            assert ours[name] == pytest.approx(want[name], rel=1e-9), name
        yt, yp = y[idx].double().numpy(), pred[idx].double().numpy()
        assert ours["mse"] == pytest.approx(mean_squared_error(yt, yp), rel=1e-6)
        assert ours["mae"] == pytest.approx(mean_absolute_error(yt, yp), rel=1e-6)
        assert ours["r2"] == pytest.approx(r2_score(yt, yp), rel=1e-6)


def test_records_refuse_a_wrong_kind_and_losses_of_another_length():
    with pytest.raises(NnmlError, match="kind=ranking"):
        records_from_batch("ranking", torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(NnmlError, match="losses holds 1 values for a batch of 2"):
        records_from_batch("classification", torch.zeros(2, 3), torch.zeros(2, dtype=torch.long),
                           losses=torch.tensor(0.5))


def test_records_feed_the_paired_tests():
    """What the records are for: two models on the same test samples, F1 by the paired bootstrap (the same
    resamples and interval as scipy's bootstrap over sample indices) and accuracy by McNemar."""
    import scipy.stats as ss

    g = torch.Generator().manual_seed(5)
    y = torch.randint(0, 4, (120,), generator=g)
    logits_a, logits_b = torch.randn(120, 4, generator=g), torch.randn(120, 4, generator=g)
    logits_a[torch.arange(120), y] += 1.5
    logits_b[torch.arange(120), y] += 0.8
    a = records_from_batch("classification", logits_a, y)
    b = records_from_batch("classification", logits_b, y)

    def f1(r):
        return metrics_from_records("classification", r)["f1"]

    r = stats.paired_bootstrap(f1, a, b, n_resamples=300, seed=3)
    ref = ss.bootstrap((np.arange(120),), lambda i: f1(stats.take(a, i)) - f1(stats.take(b, i)), paired=True,
                       vectorized=False, n_resamples=300, rng=np.random.default_rng(3))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(tuple(ref.confidence_interval), rel=1e-12)
    m = stats.mcnemar_exact(a["pred"] == a["target"], b["pred"] == b["target"])
    assert m["diff"] == pytest.approx(metrics_from_records("classification", a)["acc"] -
                                      metrics_from_records("classification", b)["acc"])
