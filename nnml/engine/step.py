"""What a task's step may ask of the loop: optimizer slots (optimizer, scheduler, clipping, scaler per optimizer)
and the step context (``ctx.optimize``, ``ctx.autocast``, the device and the counters)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch

from nnml.errors import NnmlError


@dataclass
class OptimizerSlot:
    """One optimizer with its own scheduler, gradient clipping and (fp16) GradScaler. A GAN has two slots, a
    supervised task one, ALS none. ``interval`` says when the scheduler steps: each ``epoch`` or each ``step``
    (after every optimizer step of this slot)."""

    optimizer: torch.optim.Optimizer
    scheduler: object | None = None
    interval: str = "epoch"
    grad_clip: float | None = None
    scaler: object | None = None
    params: list = field(default_factory=list)

    def __post_init__(self):
        if not self.params:
            self.params = [p for g in self.optimizer.param_groups for p in g["params"] if p.requires_grad]

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def step(self, loss: torch.Tensor, retain_graph: bool = False, micro: tuple[int, int] | None = None):
        """zero_grad, backward (scaled under fp16), clip, optimizer step, per-step scheduler. Returns the gradient
        norm when clipping computed it, else None.

        ``micro=(i, n)``: this loss is micro-batch ``i`` of ``n`` whose gradients add up to one optimizer step
        (``trainer.accumulate_grad_batches``): the first zeroes the gradients, each adds the gradient of ``loss / n``
        (so that ``n`` equal micro-batches give the gradient of their union's mean loss), and only the last clips,
        steps the optimizer, the GradScaler and a per-step scheduler. The others return None."""
        i, n = micro or (0, 1)
        if i == 0:
            self.optimizer.zero_grad(set_to_none=True)
        if n > 1:
            loss = loss / n
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward(retain_graph=retain_graph)
        if i < n - 1:
            return None
        return self._apply()

    def _apply(self):
        """The optimizer step on the gradients backward left: unscale and clip, step, scaler update, scheduler."""
        opt, grad_norm = self.optimizer, None
        if self.scaler is not None:
            if self.grad_clip:
                self.scaler.unscale_(opt)
                grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
            self.scaler.step(opt)
            self.scaler.update()
        else:
            if self.grad_clip:
                grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
            opt.step()
        if self.scheduler is not None and self.interval == "step":
            self.scheduler.step()
        return grad_norm

    def grad_norm(self) -> float:
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            return 0.0
        return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))


class Accumulation:
    """``trainer.accumulate_grad_batches=K``: K batches add their gradients up to one optimizer step.

    Groups start at each epoch's first batch, so an epoch whose batch count K does not divide ends with a shorter
    group, whose gradient is the mean over its own batches (the last batch of a large-batch epoch is short too).
    A checkpoint lies only between groups (the loop defers Ctrl-C to the end of a group; epochs end groups), so a
    resume never needs half a group's gradients. Under DDP the gradients are all-reduced once per group: the
    group's other batches run forward and backward under ``no_sync``."""

    def __init__(self, k: int = 1, steps_per_epoch: int = 1, ddp_modules=(), task=None):
        self.k, self.steps_per_epoch = max(1, int(k)), max(1, int(steps_per_epoch))
        self.ddp_modules = [m for m in ddp_modules if hasattr(m, "no_sync")]
        if self.k > 1 and task is not None and not task.automatic_optimization:
            raise NnmlError(f"trainer.accumulate_grad_batches={self.k} needs a task whose optimizer the loop steps; "
                            f"{type(task).__name__} steps its own: use trainer.accumulate_grad_batches=1")

    def window(self, step_in_epoch: int) -> tuple[int, int] | None:
        """(position in its group, the group's size) of the epoch's batch ``step_in_epoch``; None without
        accumulation."""
        if self.k == 1:
            return None
        start = step_in_epoch - step_in_epoch % self.k
        return step_in_epoch - start, min(self.k, self.steps_per_epoch - start)

    def sync(self, window):
        """The context a batch runs in: ``no_sync`` of every DDP module unless it ends its group."""
        if window is None or window[0] == window[1] - 1 or not self.ddp_modules:
            return contextlib.nullcontext()
        stack = contextlib.ExitStack()
        for m in self.ddp_modules:
            stack.enter_context(m.no_sync())
        return stack

    def at_boundary(self, done_in_epoch: int) -> bool:
        """True when the epoch's first ``done_in_epoch`` batches end a group (an optimizer step just happened)."""
        return self.k == 1 or done_in_epoch % self.k == 0 or done_in_epoch >= self.steps_per_epoch


def auto_slot(task):
    """The slot the loop steps for a task with ``automatic_optimization`` (its only one), else None."""
    if task.automatic_optimization and len(task.slots) != 1:
        raise NnmlError(f"task {type(task).__name__} has automatic_optimization but {len(task.slots)} optimizer "
                        f"slots; it needs exactly one (or set automatic_optimization = False and call "
                        f"ctx.optimize itself)")
    return next(iter(task.slots.values()), None)


def optimizer_steps(batches_per_epoch: int, k: int) -> int:
    """Optimizer steps per epoch of ``batches_per_epoch`` batches with ``k`` batches per step."""
    return -(-int(batches_per_epoch) // max(1, int(k)))


class StepContext:
    """Handed to a task's steps and evaluation. ``optimize(loss, name)`` steps one slot; ``batches(split)`` yields
    an evaluation split's batches (this rank's shard under DDP); ``all_reduce(metrics)`` sums an accumulator over
    ranks; ``forward(name)`` is the module that runs training batches (compiled or DDP-wrapped), ``module(name)``
    the bare one."""

    def __init__(self, trainer):
        self._t = trainer
        self.last_grad_norm = None
        #: True during the final evaluations of val and test: a task with per-sample records
        #: (:class:`nnml.tasks.capabilities.Records`) keeps them while it computes its metrics
        self.recording = False

    # the loop's facts
    @property
    def device(self) -> torch.device:
        return self._t.device

    @property
    def epoch(self) -> int:
        """Epochs finished before this step (0 in the first epoch)."""
        return self._t.state.epoch

    @property
    def global_step(self) -> int:
        return self._t.state.global_step

    @property
    def max_epochs(self) -> int:
        return self._t.state.max_epochs

    @property
    def steps_per_epoch(self) -> int:
        return self._t.state.steps_per_epoch

    @property
    def run_dir(self):
        return self._t.run_dir

    @property
    def training(self) -> bool:
        return self._t.in_train_step

    @property
    def train_metrics(self) -> bool:
        """False with ``trainer.train_metrics=false``: the epoch's metrics keep the losses alone, so a step may skip
        computing anything else it would add (a token accuracy's argmax over the vocabulary)."""
        return self._t.loop.train_metrics

    def autocast(self):
        return self._t.autocast()

    def forward(self, name: str | None = None):
        return self._t.forward_module(name)

    def module(self, name: str | None = None):
        return self._t.task.modules[name or self._t.task.primary]

    def optimize(self, loss: torch.Tensor, name: str | None = None, retain_graph: bool = False):
        slots = self._t.task.slots
        if name is None:
            if len(slots) != 1:
                raise ValueError(f"ctx.optimize needs a slot name: this task has {sorted(slots)}")
            name = next(iter(slots))
        gn = slots[name].step(loss, retain_graph=retain_graph)
        if gn is not None:
            self.last_grad_norm = gn
        return gn

    def batches(self, split: str):
        return self._t.eval_batches_of(split)

    def positions(self, start: int, n: int):
        """The positions in the split of the ``n`` samples that follow the first ``start`` samples of this rank's
        evaluation batches (an evaluation shard keeps every world-th sample: rank r holds r, r + world, ...)."""
        import numpy as np

        rank, world = self._t._shard()
        return rank + world * np.arange(start, start + n, dtype=np.int64)

    def all_reduce(self, metrics) -> None:
        if self._t.dist is not None:
            self._t.dist.reduce_metric_state(metrics)


def step_scalars(loss_value: float, logged, slot, grad_norm, probe=None) -> dict:
    """What a logging step reports: the loss, the task's own step values, the gradient norm and learning rate, and
    with ``trainer.layer_stats`` the per-layer statistics (``layers/...``, :mod:`nnml.engine.probe`)."""
    scalars = {"train/loss": loss_value}
    if logged:
        scalars.update({f"train/step_{k}": float(v) for k, v in logged.items() if k != "loss"})
    if slot is not None:
        scalars["grad_norm"] = float(grad_norm) if grad_norm is not None else slot.grad_norm()
        scalars["lr"] = slot.lr
    if probe is not None:
        scalars.update(probe.read())
    return scalars


def learning_rates(slots: dict, main) -> dict:
    """The epoch's ``lr`` (the main slot's), and ``lr/<slot>`` for each slot of a task with several."""
    if not slots:
        return {}
    out = {"lr": main.lr}
    if len(slots) > 1:
        out.update({f"lr/{name}": slot.lr for name, slot in slots.items()})
    return out


def step_epoch_schedulers(slots: dict, monitored: float | None) -> None:
    """After an epoch: every slot's per-epoch scheduler (ReduceLROnPlateau with the monitored metric's value)."""
    for slot in slots.values():
        if slot.scheduler is not None and slot.interval == "epoch":
            if isinstance(slot.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                if monitored is not None:
                    slot.scheduler.step(monitored)
            else:
                slot.scheduler.step()
