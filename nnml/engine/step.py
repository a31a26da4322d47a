"""What a task's step may ask of the loop: optimizer slots (optimizer, scheduler, clipping, scaler per optimizer)
and the step context (``ctx.optimize``, ``ctx.autocast``, the device and the counters)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


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

    def step(self, loss: torch.Tensor, retain_graph: bool = False):
        """zero_grad, backward (scaled under fp16), clip, optimizer step, per-step scheduler. Returns the gradient
        norm when clipping computed it, else None."""
        opt = self.optimizer
        opt.zero_grad(set_to_none=True)
        grad_norm = None
        if self.scaler is not None:
            self.scaler.scale(loss).backward(retain_graph=retain_graph)
            if self.grad_clip:
                self.scaler.unscale_(opt)
                grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
            self.scaler.step(opt)
            self.scaler.update()
        else:
            loss.backward(retain_graph=retain_graph)
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


class StepContext:
    """Handed to a task's steps and evaluation. ``optimize(loss, name)`` steps one slot; ``batches(split)`` yields
    an evaluation split's batches (this rank's shard under DDP); ``all_reduce(metrics)`` sums an accumulator over
    ranks; ``forward(name)`` is the module that runs training batches (compiled or DDP-wrapped), ``module(name)``
    the bare one."""

    def __init__(self, trainer):
        self._t = trainer
        self.last_grad_norm = None

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

    def all_reduce(self, metrics) -> None:
        if self._t.dist is not None:
            self._t.dist.reduce_metric_state(metrics)


def step_scalars(loss_value: float, logged, slot, grad_norm) -> dict:
    """What a logging step reports: the loss, the task's own step values, the gradient norm and learning rate."""
    scalars = {"train/loss": loss_value}
    if logged:
        scalars.update({f"train/step_{k}": float(v) for k, v in logged.items() if k != "loss"})
    if slot is not None:
        scalars["grad_norm"] = float(grad_norm) if grad_norm is not None else slot.grad_norm()
        scalars["lr"] = slot.lr
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
