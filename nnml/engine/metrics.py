"""Metrics by task, computed on the device from accumulated sums so the loop never waits for them.

Classification: accuracy and macro F1; regression: MSE, MAE and R^2. The formulas are the textbook ones; the
tests check them against torchmetrics and scikit-learn (torchmetrics itself costs ~3 s of import per process).
"""

from __future__ import annotations

import numpy as np
import torch


class MetricState:
    """Running sums for one pass over a split; ``compute()`` reads them (one host sync).

    ``update`` scores a batch's outputs (accuracy and F1, or MSE, MAE and R^2) and adds its loss; ``update_loss``,
    and ``update`` after :meth:`only_losses` (a training epoch with ``trainer.train_metrics=false``), add the loss
    alone. ``compute`` reports each metric over the samples that had it: the loss over all, the scores over the
    scored ones, and the loss alone when no sample was scored."""

    losses_only = False

    def __init__(self, task: str, num_outputs: int, device):
        self.task = task
        self.k = num_outputs
        self.device = device
        self.reset()

    # Per step, classification keeps only the argmax and targets (one op), and the loss waits in a list (no op);
    # they are folded into the sums every FOLD_EVERY steps and before any read. A bincount per step cost ~15 us
    # of a ~2 ms step.
    FOLD_EVERY = 64

    def reset(self) -> None:
        z = lambda *s: torch.zeros(*s, device=self.device, dtype=torch.float64)  # noqa: E731
        self.n = z(())
        self.scored = z(())  # samples whose outputs were scored (update); n counts update_loss's too
        self.loss_sum = z(())
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._pending_loss: tuple[list, list[int]] = ([], [])  # detached losses and their batch sizes
        self._pending_scored = 0
        if self.task == "classification":
            self.confusion = torch.zeros(self.k, self.k, device=self.device, dtype=torch.long)
        else:
            self.sq = z(self.k)
            self.abs = z(self.k)
            self.y_sum = z(self.k)
            self.y_sq = z(self.k)

    def only_losses(self) -> MetricState:
        """From now on ``update`` adds the loss alone: no argmax, no confusion matrix, no regression sums."""
        self.losses_only = True
        return self

    def update(self, outputs: torch.Tensor, targets: torch.Tensor, loss: torch.Tensor) -> None:
        # detach() rather than a no_grad decorator: the same effect, a few microseconds less per training step
        n = targets.shape[0]
        if self.losses_only:
            return self.update_loss(loss, n)
        self._pending_scored += n
        if self.task == "classification":
            self._pending.append((outputs.detach().argmax(1), targets))
        self.update_loss(loss, n)
        if self.task != "classification":
            out = outputs.detach().double().view(n, -1)
            y = targets.double().view(n, -1)
            err = out - y
            self.sq += (err * err).sum(0)
            self.abs += err.abs().sum(0)
            self.y_sum += y.sum(0)
            self.y_sq += (y * y).sum(0)

    def update_loss(self, loss: torch.Tensor, n: int) -> None:
        """The batch's mean loss over its ``n`` samples, nothing scored."""
        self._pending_loss[0].append(loss.detach())
        self._pending_loss[1].append(n)
        if len(self._pending_loss[1]) >= self.FOLD_EVERY:
            self.flush()

    def flush(self) -> None:
        """Fold what ``update`` deferred into the sums; every read goes through here."""
        if self._pending_scored:
            self.scored += self._pending_scored
            self._pending_scored = 0
        if self._pending_loss[1]:
            self.n += sum(self._pending_loss[1])
            self.loss_sum = fold_means(self.loss_sum, *self._pending_loss)
            self._pending_loss = ([], [])
        if self._pending:
            pred = torch.cat([p for p, _ in self._pending])
            true = torch.cat([t for _, t in self._pending])
            self._pending = []
            self.confusion += torch.bincount(true * self.k + pred, minlength=self.k * self.k).view(self.k, self.k)

    def state(self) -> dict[str, torch.Tensor]:
        """The sums as tensors (for checkpoints and all-reduce)."""
        self.flush()
        names = ["n", "scored", "loss_sum"] + (["confusion"] if self.task == "classification" else ["sq", "abs", "y_sum", "y_sq"])
        return {k: getattr(self, k) for k in names}

    def load_state(self, state: dict, device=None) -> None:
        """Continue from :meth:`state` (a resumed mid-epoch checkpoint). Only the sums :meth:`state` holds, with
        their shapes, are taken: a checkpoint is data, and any other name would overwrite this object's fields."""
        from nnml.errors import NnmlError

        self.flush()
        kept = self.state()
        bad = sorted(str(k) for k, v in state.items()
                     if k not in kept or not isinstance(v, torch.Tensor) or v.shape != kept[k].shape)
        if bad:
            raise NnmlError(f"checkpoint training sums {', '.join(bad)} do not fit this run's {self.task} metrics "
                            f"({', '.join(kept)}); the checkpoint was written by another task or changed since")
        for k, v in state.items():
            setattr(self, k, v.to(device or self.device))
        if "scored" not in state:  # a checkpoint from before update_loss: every sample was scored
            self.scored = self.n.clone()

    def compute(self) -> dict[str, float]:
        # One host transfer of the sums, then the formulas in NumPy: a handful of small torch ops cost ~5 us each
        # (~80 us a call), the same in NumPy ~1 us each; this runs twice an epoch.
        self.flush()
        head = [self.n.view(1), self.scored.view(1), self.loss_sum.view(1)]
        if self.task == "classification":
            parts = [*head, self.confusion.view(-1).double()]
        else:
            parts = [*head, self.sq, self.abs, self.y_sum, self.y_sq]
        a = torch.cat(parts).cpu().numpy()
        out = {"loss": float(a[2]) / max(float(a[0]), 1.0)}
        if a[1] == 0 and a[0] > 0:  # losses only (trainer.train_metrics=false)
            return out
        n = max(float(a[1]), 1.0)
        if self.task == "classification":
            out.update(accuracy_and_macro_f1(a[3:].reshape(self.k, self.k)))
        else:
            sq, ab, y_sum, y_sq = a[3:].reshape(4, self.k)
            out["mse"] = float((sq / n).mean())
            out["mae"] = float((ab / n).mean())
            ss_tot = y_sq - y_sum**2 / n
            out["r2"] = float((1 - sq / np.maximum(ss_tot, 1e-12)).mean())
        return out


def is_loss(name: str) -> bool:
    """A metric that is a loss a task optimizes: ``loss``, or a name ending in ``_loss`` (a GAN's ``d_loss`` and
    ``g_loss``); what a training epoch reports with ``trainer.train_metrics=false``."""
    return name == "loss" or name.endswith("_loss")


def directions(task: str) -> dict[str, str]:
    """Metric -> ``max``/``min`` for the supervised kinds."""
    if task == "classification":
        return {"loss": "min", "acc": "max", "f1": "max"}
    return {"loss": "min", "mse": "min", "mae": "min", "r2": "max"}


def monitor_default(task: str) -> tuple[str, str]:
    return ("val/acc", "max") if task == "classification" else ("val/loss", "min")


# Better when larger, for metrics whose task did not record its directions (run folders from before it did).
MAX_METRICS = ("acc", "f1", "r2")


def direction(metric: str, known=None) -> str:
    """``max`` or ``min`` for ``metric`` (``val/acc`` or ``acc``): what its task states (``known``: a task's
    ``metric_directions()`` or metrics.json's ``directions``), else by its name (accuracy-like metrics up, losses
    and errors down). The one place nnml decides which way is better."""
    name = metric.split("/", 1)[-1]
    d = (known or {}).get(name)
    if d in ("max", "min"):
        return d
    return "max" if name.split("/")[-1] in MAX_METRICS else "min"


def resolve_monitor(monitor: str, mode: str, directions: dict, default_monitor: str,
                    train_metrics: bool = True) -> tuple[str, str]:
    """(metric, mode) that picks the best epoch: ``auto`` follows the task (its default monitor, in the direction
    it states); an explicit metric must be one the task reports (``train_metrics=False``: of the training epoch's
    metrics, only the losses). The one place the monitor is resolved."""
    from nnml.errors import NnmlError, did_you_mean

    monitor, mode = str(monitor), str(mode)
    if monitor == "auto":
        monitor = default_monitor
    available = [f"val/{n}" for n in directions]
    available += [f"train/{n}" for n in directions if train_metrics or is_loss(n)]
    if not train_metrics and monitor.startswith("train/") and not is_loss(monitor[6:]) and monitor[6:] in directions:
        raise NnmlError(f"trainer.monitor={monitor} is not reported with trainer.train_metrics=false (training "
                        f"epochs report their losses only); choose val/{monitor[6:]}, a training loss, or "
                        f"trainer.train_metrics=true")
    if monitor not in available:
        raise NnmlError(f"trainer.monitor={monitor} is not a metric of this task{did_you_mean(monitor, available)}; "
                        f"choose one of: {', '.join(available)}")
    if mode == "auto":
        mode = direction(monitor, directions)
    return monitor, mode


def fold_means(total: torch.Tensor, values: list, counts: list[int], host: bool | None = None) -> torch.Tensor:
    """``total + mean(values[0]) * counts[0] + mean(values[1]) * counts[1] + ...`` as a new float64 scalar tensor on
    ``total``'s device. ``values``: numbers, detached scalar tensors (a mean already), or detached tensors of
    per-sample values (their mean is taken here, in their own dtype, as the step would have).

    The terms are added one at a time, in order, in float64; each product is exact (a float32 or 16-bit mean, an
    integer count), so the sum has the same bits however the adds were split into folds (a checkpoint mid-epoch
    folds early), and the same as adding each in its step. On the CPU that is a Python loop (~0.3 us a value,
    against ~5-15 us for a tensor op inside a training step); on an accelerator the same adds as tensor ops, queued
    without a host sync. ``host``: which of the two (default: the Python loop for a CPU ``total``)."""
    if total.device.type == "cpu" if host is None else host:
        s = float(total)
        for m, c in zip(_host_means(values), counts):
            s += m * c
        return torch.tensor(s, dtype=torch.float64)
    means = [v.mean() if isinstance(v, torch.Tensor) and v.dim() else v for v in values]
    for m, c in zip(means, counts):
        total = total.add(m, alpha=c) if isinstance(m, torch.Tensor) else total + float(m) * c
    return total


def _host_means(values: list) -> list[float]:
    """Each value's mean as a Python float: runs of tensors of one shape and dtype are stacked and reduced row by row
    (one stack, one mean, one transfer for a whole run of steps, instead of a mean and a read each); a row's mean
    has the bits of the tensor's own ``mean()`` (tests/engine/test_metrics.py)."""
    out, i = [], 0
    while i < len(values):
        v = values[i]
        if not isinstance(v, torch.Tensor):
            out.append(float(v))
            i += 1
            continue
        j = i + 1
        while j < len(values) and isinstance(values[j], torch.Tensor) and values[j].shape == v.shape \
                and values[j].dtype == v.dtype:
            j += 1
        block = torch.stack(values[i:j])
        out += (block.view(j - i, -1).mean(1) if v.dim() else block).tolist()
        i = j
    return out


class MeanMetrics:
    """Running means of named scalars on the device (``add("loss", tensor, n)``), for tasks whose metrics are
    averages over samples (GAN and VAE losses, reconstruction errors). ``state()`` holds a sum and a count per
    name, in sorted order, so DDP ranks all-reduce the same tensors."""

    losses_only = False

    def __init__(self, device=None):
        self.device = device
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, torch.Tensor] = {}
        self._pending: dict[str, tuple[list, list[int]]] = {}  # per name: values and weights not yet folded

    # Per add, no tensor op: the detached value and its weight wait in a list until a read, or FOLD_EVERY adds of
    # one name. An ``add_`` a call cost ~1.5% of a small VAE's ~1 ms step (five calls a step), a detach and an
    # append nothing measurable (scripts/bench_epochs.py, docs/performance.md).
    FOLD_EVERY = 64

    def reset(self) -> None:
        # Out of place: a sum may be an inference tensor (folded inside an evaluation's inference_mode block).
        self._pending = {}
        self.sums = {k: torch.zeros_like(v) for k, v in self.sums.items()}
        self.counts = {k: torch.zeros_like(v) for k, v in self.counts.items()}

    def only_losses(self) -> MeanMetrics:
        """From now on ``add`` keeps the losses alone (:func:`is_loss`) and drops every other name."""
        self.losses_only = True
        return self

    def add(self, name: str, value, n: int = 1) -> None:
        """Add ``value`` with weight ``n``: a number or scalar tensor (the mean over ``n`` samples), or a tensor of
        the ``n`` samples' own values, whose mean is taken when the adds are folded (not in the step)."""
        if self.losses_only and not is_loss(name):
            return
        p = self._pending.get(name)
        if p is None:
            p = self._pending[name] = ([], [])
            if name not in self.sums:
                dev = value.device if isinstance(value, torch.Tensor) else self.device
                self.sums[name] = torch.zeros((), dtype=torch.float64, device=dev)
                self.counts[name] = torch.zeros((), dtype=torch.float64, device=dev)
        p[0].append(value.detach() if isinstance(value, torch.Tensor) else value)
        p[1].append(n)
        if len(p[1]) >= self.FOLD_EVERY:
            self._fold_one(name)

    def _fold_one(self, name: str) -> None:
        # Out of place, as in reset.
        values, counts = self._pending.pop(name)
        self.sums[name] = fold_means(self.sums[name], values, counts)
        self.counts[name] = self.counts[name] + sum(counts)

    def _fold(self) -> None:
        for name in list(self._pending):
            self._fold_one(name)

    def state(self) -> dict[str, torch.Tensor]:
        self._fold()
        out = {}
        for k in sorted(self.sums):
            out[f"sum/{k}"] = self.sums[k]
            out[f"count/{k}"] = self.counts[k]
        return out

    def load_state(self, state: dict, device=None) -> None:
        self._pending = {}
        for key, t in state.items():
            kind, name = key.split("/", 1)
            (self.sums if kind == "sum" else self.counts)[name] = t.to(device or t.device)

    def compute(self) -> dict[str, float]:
        if not self.sums:
            return {}
        self._fold()
        names = sorted(self.sums)
        a = torch.stack([torch.stack([self.sums[k], self.counts[k]]) for k in names]).cpu().numpy()
        return {k: float(s / c) if c else float("nan") for k, (s, c) in zip(names, a)}


SMALL_K = 32  # classes up to which accuracy_and_macro_f1 loops in Python (k^2 steps) rather than calling NumPy


def accuracy_and_macro_f1(cm: np.ndarray) -> dict[str, float]:
    """``acc`` and macro ``f1`` of a (true, predicted) confusion matrix; the F1 mean is over the classes present in
    targets or predictions (as torchmetrics and scikit-learn do). A class's F1, 2PR / (P + R), is
    2 TP / (predicted + true): the same number without the divisions by zero."""
    k = len(cm)
    if k <= SMALL_K:
        # In plain Python: this runs at every epoch's end, right after the training steps have been through the
        # caches, where each NumPy call costs ~10 us (the NumPy version took ~160 us there, this one ~30 us).
        rows = cm.tolist()
        true = [sum(r) for r in rows]
        pred = [sum(col) for col in zip(*rows)]
        tp = [rows[i][i] for i in range(k)]
        f1 = [2 * tp[i] / (pred[i] + true[i]) for i in range(k) if pred[i] + true[i] > 0]
        return {"acc": float(sum(tp) / max(sum(true), 1.0)), "f1": float(sum(f1) / len(f1)) if f1 else 0.0}
    tp = np.diag(cm).astype(np.float64)
    both = cm.sum(0) + cm.sum(1)
    present = both > 0
    return {"acc": float(tp.sum() / max(cm.sum(), 1.0)),
            "f1": float((2 * tp[present] / both[present]).mean()) if present.any() else 0.0}
