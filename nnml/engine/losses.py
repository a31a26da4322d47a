"""Losses by task: which torch loss fits which task, and the small adapter that shapes targets for it."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from nnml.errors import NnmlError

CLASSIFICATION_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss, nn.BCEWithLogitsLoss)
REGRESSION_LOSSES = (nn.MSELoss, nn.L1Loss, nn.HuberLoss, nn.SmoothL1Loss)


class AutoLoss(nn.Module):
    """``loss=auto`` (the default): a stand-in that :func:`make_criterion` replaces by the loss that fits the
    data, cross-entropy for classification and MSE for regression, as ``trainer.monitor=auto`` follows it.
    ``label_smoothing`` goes to the cross-entropy (classification only)."""

    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = float(label_smoothing)

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise RuntimeError("AutoLoss is replaced by make_criterion before training")


AUTO_LOSSES = {"classification": ("cross_entropy", nn.CrossEntropyLoss), "regression": ("mse", nn.MSELoss)}


class Criterion(nn.Module):
    """Calls the torch loss on model outputs (logits or values) with targets shaped as it expects."""

    def __init__(self, loss: nn.Module, num_outputs: int):
        super().__init__()
        self.loss = loss
        self.num_outputs = num_outputs
        self.kind = ("nll" if isinstance(loss, nn.NLLLoss) else "bce" if isinstance(loss, nn.BCEWithLogitsLoss)
                     else "plain")

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.kind == "nll":
            # NLLLoss expects log-probabilities; models return logits.
            return self.loss(F.log_softmax(outputs, dim=1), targets)
        if self.kind == "bce":
            # One-vs-rest: one sigmoid per class against one-hot targets.
            return self.loss(outputs, F.one_hot(targets, self.num_outputs).to(outputs.dtype))
        return self.loss(outputs, targets)


class _Callable(nn.Module):
    """A plain function as a loss module."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, outputs, targets):
        return self.fn(outputs, targets)


def callable_name(obj) -> str:
    """The dotted name of a loss as the user wrote it: a function (``my_losses.focal``), the function a
    ``functools.partial`` wraps, or a module's class (``my_losses.Focal``)."""
    import functools

    while isinstance(obj, functools.partial):
        obj = obj.func
    target = obj if callable(obj) and hasattr(obj, "__qualname__") else type(obj)
    module = getattr(target, "__module__", "") or ""
    name = getattr(target, "__qualname__", type(obj).__name__)
    return f"{module}.{name}" if module and module != "builtins" else name


def is_own_code(obj) -> bool:
    """True for a loss from the user's own code: not torch's, not nnml's."""
    module = callable_name(obj).split(".", 1)[0]
    return module not in ("torch", "nnml")


def make_criterion(loss, task: str, num_outputs: int, loss_name: str = "") -> Criterion:
    """Refuse a torch loss that does not fit the dataset's task before anything trains. A loss of the user's own
    (any callable ``loss(outputs, targets) -> tensor``, or a module nnml does not know) is used as it is;
    ``loss=auto`` picks the one that fits the data."""
    if isinstance(loss, AutoLoss) and task in AUTO_LOSSES:
        smoothing = loss.label_smoothing
        loss_name, cls = AUTO_LOSSES[task]
        if smoothing and task != "classification":
            raise NnmlError(f"loss.label_smoothing={smoothing} applies to classification; this dataset is {task}: "
                            f"leave it at 0")
        loss = cls(label_smoothing=smoothing) if smoothing else cls()
    name = loss_name or type(loss).__name__
    if not isinstance(loss, CLASSIFICATION_LOSSES + REGRESSION_LOSSES):
        if not callable(loss):
            raise NnmlError(f"loss={name} built a {type(loss).__name__}, which is not callable; a loss is a "
                            f"function or module loss(outputs, targets) -> tensor")
        return Criterion(loss if isinstance(loss, nn.Module) else _Callable(loss), num_outputs)
    if task == "regression" and not isinstance(loss, REGRESSION_LOSSES):
        raise NnmlError(f"loss={name} does not fit a regression dataset; choose one of: huber, mae, mse, smooth_l1")
    if task == "classification" and not isinstance(loss, CLASSIFICATION_LOSSES):
        raise NnmlError(f"loss={name} does not fit a classification dataset; choose one of: bce_with_logits, "
                        f"cross_entropy, nll")
    return Criterion(loss, num_outputs)
