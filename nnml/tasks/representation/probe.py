"""How good is a representation: a linear probe and kNN accuracy on frozen embeddings, and their baselines.

The standard protocols of self-supervised learning, on the device:

- linear probe: multinomial logistic regression (L2 penalty ``C`` as in scikit-learn's ``LogisticRegression``)
  fitted by L-BFGS on the train split's embeddings, standardized with the train split's mean and std, scored on
  the evaluated split;
- kNN: each evaluated sample takes the majority label of its ``k`` nearest train embeddings by cosine similarity
  (ties go to the smaller label, as in scikit-learn's ``KNeighborsClassifier``).

The tests check both against scikit-learn on the same features. The same two numbers for the raw inputs and for
the encoder at its random initialisation are the baselines any claim about a pretrained encoder needs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nnml.errors import NnmlError


@torch.no_grad()
def embed(encoder: torch.nn.Module, x: torch.Tensor, batch_size: int = 1024, device=None) -> torch.Tensor:
    """The encoder's outputs for all of ``x`` in eval mode (batch norm uses its running statistics), flattened."""
    device = device or next((p.device for p in encoder.parameters()), torch.device("cpu"))
    was_training = encoder.training
    encoder.eval()
    try:
        out = [encoder(x[i:i + batch_size].to(device)).flatten(1).float() for i in range(0, len(x), batch_size)]
    finally:
        encoder.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, device=device)


def standardize(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Subtract the train mean and divide by the train std (constant features are only centred)."""
    mean = train.mean(0, keepdim=True)
    std = train.std(0, unbiased=False, keepdim=True)
    std = torch.where(std < 1e-8, torch.ones_like(std), std)
    return [(t - mean) / std for t in (train, *others)]


def fit_logistic(x: torch.Tensor, y: torch.Tensor, num_classes: int, C: float = 1.0, max_iter: int = 500,
                 tol: float = 1e-6, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight (K, D), bias (K,)) minimising ``sum_i CE(x_i, y_i) + ||W||^2 / (2 C)`` (bias not penalised): the
    objective of scikit-learn's multinomial ``LogisticRegression(C=C)``. L-BFGS with a strong-Wolfe line search
    (scikit-learn's solver too); the objective is divided by n so that its tolerances do not depend on the data's
    size. ``dtype`` float64 matches scikit-learn to ~1e-5; float32 halves the cost and moves accuracies by a
    sample or so."""
    if C <= 0:
        raise NnmlError(f"task.probe.C={C} is not valid; choose a number > 0 (inverse L2 strength, as scikit-learn's)")
    x = x.to(dtype)
    n, d = x.shape
    w = torch.zeros(num_classes, d, dtype=dtype, device=x.device, requires_grad=True)
    b = torch.zeros(num_classes, dtype=dtype, device=x.device, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, tolerance_grad=tol * 1e-2, tolerance_change=1e-12,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x @ w.T + b, y, reduction="sum") / n + (w * w).sum() / (2 * C * n)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach(), b.detach()


def probe_predict(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (x.to(w.dtype) @ w.T + b).argmax(1)


def linear_probe(train_x, train_y, eval_x, eval_y, num_classes: int | None = None, C: float = 1.0,
                 max_iter: int = 100, dtype=torch.float64) -> float:
    """Test accuracy of logistic regression fitted on standardized train features."""
    k = int(num_classes or int(torch.cat([train_y, eval_y]).max()) + 1)
    tr, ev = standardize(train_x.to(dtype), eval_x.to(dtype))
    w, b = fit_logistic(tr, train_y, k, C=C, max_iter=max_iter, dtype=dtype)
    return float((probe_predict(w, b, ev) == eval_y).double().mean())


def knn_predict(train_x, train_y, eval_x, k: int = 20, num_classes: int | None = None,
                chunk: int = 2048) -> torch.Tensor:
    """Majority label of the ``k`` most cosine-similar train rows, for each row of ``eval_x``."""
    if k < 1:
        raise NnmlError(f"task.probe.knn_k={k} is not valid; choose an integer >= 1")
    k = min(int(k), len(train_x))
    classes = int(num_classes or int(train_y.max()) + 1)
    tr = F.normalize(train_x.float(), dim=1)
    preds = []
    for i in range(0, len(eval_x), chunk):
        sim = F.normalize(eval_x[i:i + chunk].float(), dim=1) @ tr.T
        idx = sim.topk(k, dim=1).indices
        votes = torch.zeros(len(idx), classes, device=idx.device)
        votes.scatter_add_(1, train_y[idx], torch.ones_like(idx, dtype=votes.dtype))
        preds.append(votes.argmax(1))  # the first maximum: ties go to the smaller label
    return torch.cat(preds)


def knn_accuracy(train_x, train_y, eval_x, eval_y, k: int = 20, num_classes: int | None = None) -> float:
    return float((knn_predict(train_x, train_y, eval_x, k, num_classes) == eval_y).double().mean())


class RepresentationProbe:
    """Both protocols with one set of keys (``task.probe``): ``C`` and ``max_iter`` of the logistic regression
    (scikit-learn's defaults 1.0 and 100; float32, for speed),
    ``knn_k`` neighbours, ``max_train`` (the first rows of the train split only: the probe's
    cost grows with them; null: all)."""

    def __init__(self, C: float = 1.0, max_iter: int = 100, knn_k: int = 20, max_train: int | None = None):
        if int(knn_k) < 1:
            raise NnmlError(f"task.probe.knn_k={knn_k} is not valid; choose an integer >= 1")
        if float(C) <= 0:
            raise NnmlError(f"task.probe.C={C} is not valid; choose a number > 0")
        self.C, self.max_iter, self.knn_k = float(C), int(max_iter), int(knn_k)
        self.max_train = int(max_train) if max_train else None

    def scores(self, train_x, train_y, eval_x, eval_y, num_classes: int) -> dict[str, float]:
        if self.max_train and len(train_x) > self.max_train:
            train_x, train_y = train_x[: self.max_train], train_y[: self.max_train]
        train_y, eval_y = train_y.to(train_x.device), eval_y.to(train_x.device)
        eval_x = eval_x.to(train_x.device)
        return {
            "probe_acc": linear_probe(train_x, train_y, eval_x, eval_y, num_classes, self.C, self.max_iter,
                                      dtype=torch.float32),
            "knn_acc": knn_accuracy(train_x, train_y, eval_x, eval_y, self.knn_k, num_classes),
        }
