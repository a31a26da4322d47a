"""Metrics against torchmetrics and scikit-learn, the oracles; losses against torch's functional forms."""

import numpy as np
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


def _steps(seed=0, steps=150):
    """Per-step float32 losses, per-sample float32 values and batch sizes (the last batch short)."""
    g = torch.Generator().manual_seed(seed)
    sizes = [64] * (steps - 1) + [17]
    return [(torch.rand((), generator=g) * 3, torch.rand(n, generator=g) * 100, n) for n in sizes]


def test_deferred_sums_have_the_bits_of_adding_each_step():
    """MeanMetrics and MetricState keep each step's value and fold later (every FOLD_EVERY adds and before any
    read). The oracle is what they did before: one float64 ``add_(value, alpha=n)`` in each step. The sums must be
    bit-identical, whatever the folds (reads in the middle, a checkpoint's state() and load_state() mid-epoch),
    and a tensor of per-sample values must count as its own float32 mean."""
    from nnml.engine.metrics import MeanMetrics

    steps = _steps()
    want = {"loss": torch.zeros((), dtype=torch.float64), "rec": torch.zeros((), dtype=torch.float64),
            "w": torch.zeros((), dtype=torch.float64)}
    for i, (loss, per_sample, n) in enumerate(steps):
        want["loss"].add_(loss, alpha=n)
        want["rec"].add_(per_sample.mean(), alpha=n)
        want["w"].add_(float(i / 7) * n)

    for read_every in (None, 1, 13, 64, 100):
        m = MeanMetrics("cpu")
        for i, (loss, per_sample, n) in enumerate(steps):
            m.add("loss", loss, n)
            m.add("rec", per_sample, n)  # the mean is taken at the fold
            m.add("w", i / 7, n)
            if read_every and (i + 1) % read_every == 0:
                m.compute()
            if i == 70:  # a checkpoint mid-epoch, then a resume into fresh metrics
                saved = {k: v.clone() for k, v in m.state().items()}
                m = MeanMetrics("cpu")
                m.load_state(saved)
        state = m.state()
        for name, total in want.items():
            assert state[f"sum/{name}"].item() == total.item(), (read_every, name)
            assert state[f"count/{name}"].item() == sum(n for *_, n in steps)

    ms = MetricState("classification", 3, "cpu")
    loss_sum = torch.zeros((), dtype=torch.float64)
    for i, (loss, _, n) in enumerate(steps):
        ms.update(torch.zeros(n, 3), torch.zeros(n, dtype=torch.long), loss)
        loss_sum.add_(loss, alpha=n)
        if i == 70:
            saved = {k: v.clone() for k, v in ms.state().items()}
            ms = MetricState("classification", 3, "cpu")
            ms.load_state(saved)
    assert ms.state()["loss_sum"].item() == loss_sum.item()
    assert ms.compute()["loss"] == loss_sum.item() / sum(n for *_, n in steps)


def test_folding_on_an_accelerator_adds_in_order_too():
    """The accelerator's path of fold_means (tensor adds queued without a host sync), run here on the CPU, gives
    the host loop's bits."""
    from nnml.engine.metrics import fold_means

    steps = _steps(seed=1, steps=40)
    values = [loss for loss, _, _ in steps[:20]] + [per_sample for _, per_sample, _ in steps[20:]] + [0.1, 7]
    counts = [n for *_, n in steps] + [3, 5]
    start = torch.tensor(0.25, dtype=torch.float64)
    host = fold_means(start, values, counts, host=True)
    queued = fold_means(start, values, counts, host=False)
    assert queued.dtype == torch.float64 and queued.item() == host.item()
    assert fold_means(start, [], [], host=False).item() == 0.25


@pytest.mark.parametrize("k", [1, 2, 7, 32, 33, 120])
def test_accuracy_and_macro_f1_against_sklearn_on_both_paths(k):
    """Up to SMALL_K classes the formulas loop in Python, above it in NumPy: both against scikit-learn, with
    classes that are never predicted, never true, or absent from both."""
    from sklearn.metrics import accuracy_score

    from nnml.engine.metrics import SMALL_K, accuracy_and_macro_f1

    rng = torch.Generator().manual_seed(k)
    y = torch.randint(0, k, (3000,), generator=rng)
    pred = torch.where(torch.rand(3000, generator=rng) < 0.6, y, torch.randint(0, k, (3000,), generator=rng))
    if k > 2:
        y[y == 1], pred[pred == 2] = 0, 0  # class 1 never true, class 2 never predicted
        y[y == k - 1], pred[pred == k - 1] = 0, 0  # the last class absent from both
    cm = torch.bincount(y * k + pred, minlength=k * k).view(k, k).double().numpy()
    ours = accuracy_and_macro_f1(cm)
    assert (k <= SMALL_K) == (k in (1, 2, 7, 32))
    assert ours["acc"] == pytest.approx(accuracy_score(y.numpy(), pred.numpy()), abs=1e-12)
    assert ours["f1"] == pytest.approx(f1_score(y.numpy(), pred.numpy(), average="macro"), abs=1e-12)
    assert accuracy_and_macro_f1(np.zeros((k, k))) == {"acc": 0.0, "f1": 0.0}


@pytest.mark.parametrize("threads", [1, 2])
def test_stacked_means_have_the_bits_of_each_tensors_own_mean(threads):
    """fold_means reduces runs of same-shaped values row by row; each row must be exactly the value's own
    ``mean()`` (float32 and bfloat16, batch sizes from 1 to 4097, a short last batch, per-sample rows of several
    features), at one and at two threads."""
    from nnml.engine.metrics import _host_means

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(threads)
        for dtype in (torch.float32, torch.bfloat16):
            for shape in [(1,), (17,), (64,), (1000,), (4097,), (64, 3), ()]:
                values = [(torch.randn(shape, generator=g) * 40 + 5).to(dtype) for _ in range(12)]
                values += [(torch.randn(shape[:1] and (max(1, shape[0] // 3), *shape[1:]), generator=g)).to(dtype),
                           0.25]
                want = [float(v.mean()) if isinstance(v, torch.Tensor) else v for v in values]
                assert _host_means(values) == want, (dtype, shape)
    finally:
        torch.set_num_threads(before)


def test_losses_only_report_the_loss_of_every_batch_and_no_score():
    """``update_loss`` (trainer.train_metrics=false): the same loss as full updates of the same batches, no score."""
    logits, y = _classification_batches()
    full, losses = MetricState("classification", 5, "cpu"), MetricState("classification", 5, "cpu")
    for i in range(0, 300, 64):
        loss = torch.nn.functional.cross_entropy(logits[i : i + 64], y[i : i + 64])
        full.update(logits[i : i + 64], y[i : i + 64], loss)
        losses.update_loss(loss, len(y[i : i + 64]))
    assert losses.compute() == {"loss": full.compute()["loss"]}
    reg = MetricState("regression", 1, "cpu")
    reg.update_loss(torch.tensor(2.0), 10)
    reg.update_loss(torch.tensor(4.0), 30)
    assert reg.compute() == {"loss": 3.5}


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_scores_count_only_the_scored_samples(kind):
    """A state that saw both kinds of update (a resume that changed nothing but could) scores the scored batches
    alone, against scikit-learn on those batches, and averages the loss over all of them."""
    g = torch.Generator().manual_seed(3)
    if kind == "classification":
        out, y = _classification_batches(seed=3)
    else:
        y = torch.randn(300, 1, generator=g)
        out = y + 0.5 * torch.randn(300, 1, generator=g)
    ms = MetricState(kind, 5 if kind == "classification" else 1, "cpu")
    scored = []
    for j, i in enumerate(range(0, 300, 50)):
        if j % 2:
            ms.update_loss(torch.tensor(1.0), 50)
        else:
            ms.update(out[i : i + 50], y[i : i + 50], torch.tensor(3.0))
            scored.append(slice(i, i + 50))
    m = ms.compute()
    assert m["loss"] == pytest.approx(2.0)
    o, t = torch.cat([out[s] for s in scored]), torch.cat([y[s] for s in scored])
    if kind == "classification":
        assert m["acc"] == pytest.approx(float((o.argmax(1) == t).float().mean()))
        assert m["f1"] == pytest.approx(f1_score(t, o.argmax(1), average="macro"))
    else:
        assert m["mse"] == pytest.approx(mean_squared_error(t, o), rel=1e-6)
        assert m["r2"] == pytest.approx(r2_score(t, o), rel=1e-6)


def test_a_checkpoint_without_the_scored_count_scored_every_sample():
    """Sums saved before ``scored`` existed (every sample was scored then) load as fully scored."""
    logits, y = _classification_batches()
    ms = MetricState("classification", 5, "cpu")
    ms.update(logits[:100], y[:100], torch.tensor(0.7))
    old = {k: v for k, v in ms.state().items() if k != "scored"}
    back = MetricState("classification", 5, "cpu")
    back.load_state(old)
    assert back.compute() == ms.compute()
    assert float(back.scored) == 100


@pytest.mark.parametrize("bad", [{"task": torch.tensor(1.0)}, {"confusion": torch.zeros(3, 3, dtype=torch.long)},
                                 {"n": "10"}])
def test_checkpoint_sums_set_only_the_sums_of_this_task(bad):
    """A checkpoint is data: a name the state does not hold (it would overwrite the object's fields and silently
    turn classification into regression), a wrong shape or a non-tensor is refused in one line."""
    ms = MetricState("classification", 5, "cpu")
    with pytest.raises(NnmlError, match="do not fit this run's classification metrics"):
        ms.load_state(bad)
    assert ms.task == "classification" and ms.confusion.shape == (5, 5)
