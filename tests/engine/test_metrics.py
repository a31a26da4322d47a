"""Metrics against torchmetrics and scikit-learn, the oracles; losses against torch's functional forms."""

import pytest
import torch
from sklearn.metrics import f1_score, mean_absolute_error, mean_squared_error, r2_score

from nnml.engine.losses import make_criterion
from nnml.engine.metrics import MetricState
from nnml.errors import NnmlError


def _classification_batches(seed=0, k=5, n=300):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g)
    y = torch.randint(0, k, (n,), generator=g)
    # Make predictions better than chance and leave one class never predicted.
    logits[torch.arange(n), y] += 1.0
    logits[:, k - 1] -= 10
    return logits, y


def test_classification_metrics_match_torchmetrics_and_sklearn():
    from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

    logits, y = _classification_batches()
    ms = MetricState("classification", 5, "cpu")
    for i in range(0, 300, 64):  # several batches, as the loop feeds them
        ms.update(logits[i : i + 64], y[i : i + 64], torch.tensor(0.5))
    out = ms.compute()
    pred = logits.argmax(1)
    assert out["acc"] == pytest.approx(float(multiclass_accuracy(pred, y, 5, average="micro")), abs=1e-7)
    assert out["f1"] == pytest.approx(f1_score(y, pred, average="macro"), abs=1e-9)
    assert out["f1"] == pytest.approx(float(multiclass_f1_score(pred, y, 5, average="macro")), abs=1e-6)
    assert out["loss"] == pytest.approx(0.5)


def test_regression_metrics_match_sklearn():
    g = torch.Generator().manual_seed(1)
    y = torch.randn(200, 1, generator=g)
    out_ = y + 0.3 * torch.randn(200, 1, generator=g)
    ms = MetricState("regression", 1, "cpu")
    for i in range(0, 200, 50):
        ms.update(out_[i : i + 50], y[i : i + 50], torch.tensor(1.0))
    m = ms.compute()
    assert m["mse"] == pytest.approx(mean_squared_error(y, out_), rel=1e-6)
    assert m["mae"] == pytest.approx(mean_absolute_error(y, out_), rel=1e-6)
    assert m["r2"] == pytest.approx(r2_score(y, out_), rel=1e-6)


def test_loss_adapters_equal_torch_functional_forms():
    logits, y = _classification_batches(k=4, n=32)
    nll = make_criterion(torch.nn.NLLLoss(), "classification", 4)
    assert torch.allclose(nll(logits, y), torch.nn.functional.cross_entropy(logits, y))
    bce = make_criterion(torch.nn.BCEWithLogitsLoss(), "classification", 4)
    onehot = torch.nn.functional.one_hot(y, 4).float()
    assert torch.allclose(bce(logits, y), torch.nn.functional.binary_cross_entropy_with_logits(logits, onehot))


@pytest.mark.parametrize("loss,task", [(torch.nn.CrossEntropyLoss(), "regression"), (torch.nn.MSELoss(), "classification")])
def test_loss_that_does_not_fit_the_task_is_refused(loss, task):
    with pytest.raises(NnmlError, match="does not fit a"):
        make_criterion(loss, task, 3)


def test_deferred_confusion_folds_correctly_across_many_steps():
    """More steps than MetricState.FOLD_EVERY, with a read in the middle: the sums still equal scikit-learn's."""
    logits, y = _classification_batches(seed=3, k=5, n=1000)
    ms = MetricState("classification", 5, "cpu")
    for i in range(0, 1000, 7):
        ms.update(logits[i : i + 7], y[i : i + 7], torch.tensor(1.0))
        if i == 350:
            ms.state()  # a checkpoint mid-epoch folds early; nothing may be counted twice
    out = ms.compute()
    pred = logits.argmax(1)
    assert out["acc"] == pytest.approx(float((pred == y).double().mean()), abs=1e-12)
    assert out["f1"] == pytest.approx(f1_score(y, pred, average="macro"), abs=1e-9)
    assert int(ms.state()["n"]) == 1000
