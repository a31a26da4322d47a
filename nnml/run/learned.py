"""Did the run learn? A run that ends at chance level, or whose training loss never fell, finishes like any other
(exit code 0, a results table), and a student reading only the last line would take its numbers for a result.
:func:`learning_warnings` looks at the finished run and returns what it found, one sentence each with what to try
(the learning rate first); the run writes them to ``metrics.json`` (``warnings``) and the console prints them as the
run's last lines.

Two findings, each against a stated baseline:

- **chance level** (classification): the test accuracy is not above what always answering the training data's most
  frequent class scores on the same split: the baseline lies inside the accuracy's 95% Wilson interval (or above
  it). Regression: R^2 <= 0 on the test split, no better than predicting the mean.
- **the loss never fell**: no epoch after the first ended with a lower mean training loss than the first epoch
  (a mean over the epoch's steps, so a run that learned within its first epoch still has later epochs below it).
"""

from __future__ import annotations

import math

import torch

from nnml.config.notation import number_like
from nnml.engine.callbacks import Callback


class LossWatch(Callback):
    """The mean training loss of every epoch of this process's stretch of the run (``train/loss``) and the last
    epoch's metrics."""

    def __init__(self):
        self.epoch_losses: list[float] = []
        self.last: dict = {}
        self.from_start = True  # this process trained from epoch 1 (not a resume)

    def on_epoch_end(self, state, metrics: dict) -> None:
        value = metrics.get("train/loss")
        if isinstance(value, (int, float)):
            self.epoch_losses.append(float(value))
        if len(self.epoch_losses) <= 1 and state.epoch > 1:
            self.from_start = False
        self.last = {**dict(metrics), "epoch": state.epoch}


def chance_accuracy(data, split: str) -> tuple[float, int] | None:
    """(the accuracy of always answering the training split's most frequent class on ``split``, its size), or None
    when the labels are not one class index per sample."""
    try:
        y_train, y_eval = data.split("train")[1], data.split(split)[1]
    except Exception:
        return None
    if not all(isinstance(y, torch.Tensor) and y.ndim == 1 and not y.is_floating_point() and len(y)
               for y in (y_train, y_eval)):
        return None
    majority = int(torch.bincount(y_train.long().clamp(min=0)).argmax())
    return int((y_eval == majority).sum()) / len(y_eval), len(y_eval)


def at_chance(metrics: dict, split: str, data) -> str | None:
    """Why ``metrics[f"{split}/acc"]`` (classification) or ``.../r2`` (regression) is at chance level, or None."""
    kind = getattr(data, "task", "")
    if kind == "classification" and isinstance(metrics.get(f"{split}/acc"), (int, float)):
        found = chance_accuracy(data, split)
        if found is None:
            return None
        from nnml.stats import wilson_interval

        chance, n = found
        if chance >= 1.0:
            return None  # one class only: nothing to learn, and nothing to warn about here
        acc = float(metrics[f"{split}/acc"])
        low, high = wilson_interval(int(round(acc * n)), n)
        if low > chance:
            return None
        return (f"{split}/acc {acc:.3f} (95% interval {low:.3f}-{high:.3f}, {n} samples) is at chance level: always "
                f"answering the most frequent class scores {chance:.3f}")
    if kind == "regression" and isinstance(metrics.get(f"{split}/r2"), (int, float)):
        r2 = float(metrics[f"{split}/r2"])
        return None if r2 > 0 else f"{split}/r2 {r2:.3f} <= 0: no better than predicting the mean"
    return None


def _ended_at_chance(metrics: dict, watch: LossWatch, data) -> str | None:
    """The best weights (the results) learned, but training did not keep it: the last epoch is at chance."""
    last = watch.last
    found = at_chance(last, "val", data) if last.get("epoch") != metrics.get("best_epoch") else None
    if not found:
        return None
    return (f"in its last epoch ({last['epoch']}) {found}; the results are epoch {metrics.get('best_epoch')}'s "
            f"(the best checkpoint)")


def _loss_never_fell(watch: LossWatch) -> str | None:
    losses = watch.epoch_losses
    finite = [v for v in losses if math.isfinite(v)]
    if not watch.from_start or len(finite) < 2 or len(finite) < len(losses) or min(finite[1:]) < 0.99 * finite[0]:
        return None  # a resumed run's first epoch here is no baseline
    return (f"the training loss never fell by 1% below its first epoch's {finite[0]:.4g} in {len(finite)} epochs "
            f"(last {finite[-1]:.4g})")


def _advice(cfg, losses: list[float], smaller: bool, typed_lr: str | None) -> str:
    """What to try, the learning rate first: a tenth when the loss rose or blew up, or training fell apart after a
    good epoch (``smaller``), else (it stayed flat or fell too slowly) ten times more."""
    node = cfg.get("optimizer")
    lr = node.get("lr") if node is not None else None
    then = "then more epochs (trainer.max_epochs) or another model"
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or lr <= 0:
        return f"try another learning rate first, {then}"
    if smaller:
        return (f"try a smaller learning rate first, optimizer.lr={number_like(lr / 10, typed_lr)} (a tenth of "
                f"{number_like(lr, typed_lr)}), {then}")
    moved = f"the loss went {losses[0]:.4g} -> {losses[-1]:.4g}: " if len(losses) >= 2 else ""
    return (f"{moved}try a larger learning rate first, optimizer.lr={number_like(lr * 10, typed_lr)} (ten times "
            f"{number_like(lr, typed_lr)}), {then}")


def learning_warnings(metrics: dict, data, watch: LossWatch, cfg, typed_lr: str | None = None) -> list[str]:
    """The findings on a finished run (``metrics``: what metrics.json will hold), each one sentence ending in what
    to try; [] when it learned."""
    final = next((f for f in (at_chance(metrics, s, data) for s in ("test", "val")) if f), None)
    ended = None if final else _ended_at_chance(metrics, watch, data)
    never_fell = _loss_never_fell(watch)
    found = [f for f in (final, ended, never_fell) if f]
    if not found:
        return []
    losses = [v for v in watch.epoch_losses if math.isfinite(v)]
    blew_up = len(losses) < len(watch.epoch_losses) or (
        len(losses) >= 2 and (max(losses) > 1.01 * losses[0] or max(losses) > 10 * min(losses)))
    head = "the run did not learn" if final or never_fell else "training fell apart"
    return [f"{head}: {'; '.join(found)}; {_advice(cfg, losses, bool(ended) or blew_up, typed_lr)}"]
