"""Regularizers that act on the training step, for the supervised task: augmentation, mixup, an L1 penalty on the
weights and a max-norm constraint. The others need no code here: L2 is the optimizer's ``weight_decay`` (coupled in
Adam, decoupled in AdamW), dropout / batch norm / layer norm are model keys, label smoothing is the loss's,
early stopping is ``trainer.patience``, gradient clipping ``trainer.grad_clip``, a smaller training set
``dataset.train_fraction`` / ``dataset.n_train``.

The task builds one :class:`Regularization` from its keys; when every key is off it builds none, and the step runs
its plain code path untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from nnml.augment.base import Compose
from nnml.config.targets import Trust, instantiate
from nnml.errors import NnmlError


def penalized_weights(module: nn.Module) -> list[torch.Tensor]:
    """The weights an L1 penalty or a max-norm constraint applies to: every parameter with two or more dimensions
    (linear, convolution and recurrent weight matrices), not biases or the scales of norm layers."""
    return [p for p in module.parameters() if p.requires_grad and p.dim() >= 2]


def l1_penalty(module: nn.Module) -> torch.Tensor:
    """sum |w| over :func:`penalized_weights` (multiply by the task's ``l1`` weight)."""
    weights = penalized_weights(module)
    if not weights:
        return torch.zeros(())
    return torch.stack([w.abs().sum() for w in weights]).sum()


@torch.no_grad()
def soft_threshold(optimizer: torch.optim.Optimizer, module: nn.Module, l1: float) -> None:
    """The proximal step of ``l1 * sum |w|`` after a gradient step: w <- sign(w) max(|w| - lr l1, 0) with each
    parameter group's learning rate (ISTA). Unlike the penalty's subgradient, which leaves weights jittering
    around zero by about one step, it sets them to exactly 0."""
    weights = {id(w) for w in penalized_weights(module)}
    for group in optimizer.param_groups:
        threshold = float(group["lr"]) * float(l1)
        for w in group["params"]:
            if id(w) in weights:
                w.copy_(torch.sign(w) * torch.clamp(w.abs() - threshold, min=0.0))


@torch.no_grad()
def apply_max_norm(module: nn.Module, max_norm: float) -> None:
    """Rescale each unit's incoming weight vector (a row of a weight matrix, a filter of a convolution) to an L2 norm
    of at most ``max_norm`` (Srivastava et al. 2014, with dropout); called after every optimizer step."""
    for w in penalized_weights(module):
        w.copy_(torch.renorm(w, p=2, dim=0, maxnorm=float(max_norm)))


L1_MODES = ("penalty", "proximal")


class Regularization:
    """What the supervised task's training step does when any of its regularization keys is on.

    ``train_batch(x, y)`` augments the inputs (and mixes them with mixup); ``loss(criterion, output, batch)``
    is the criterion on the batch (the mixture for mixup) plus ``l1 * sum |w|`` (``l1_mode: penalty``);
    :meth:`attach` registers what runs after each step of the given optimizer: the L1 soft-threshold
    (``l1_mode: proximal``, instead of the penalty) and the max-norm constraint."""

    def __init__(self, augment: nn.Module | None = None, mixup_alpha: float | None = None, l1: float | None = None,
                 max_norm: float | None = None, l1_mode: str = "penalty"):
        if mixup_alpha is not None and float(mixup_alpha) < 0:
            raise NnmlError(f"task.mixup_alpha={mixup_alpha} is not valid; choose a number > 0, or 0/null for off")
        if l1 is not None and float(l1) < 0:
            raise NnmlError(f"task.l1={l1} is not valid; choose a weight >= 0 (0 or null: off)")
        if max_norm is not None and float(max_norm) <= 0:
            raise NnmlError(f"task.max_norm={max_norm} is not valid; choose a norm > 0 (null: off)")
        if l1_mode not in L1_MODES:
            raise NnmlError(f"task.l1_mode={l1_mode} is not valid; choose one of: {', '.join(L1_MODES)}")
        self.l1_mode = l1_mode
        self.augment = augment
        self.mixup_alpha = float(mixup_alpha or 0.0)
        self.l1 = float(l1 or 0.0)
        self.max_norm = float(max_norm) if max_norm else None
        self.model: nn.Module | None = None
        self._hooks: list = []

    @classmethod
    def from_keys(cls, augment=None, mixup_alpha=None, l1=None, max_norm=None, l1_mode: str = "penalty",
                  trust=None):
        """A Regularization, or None when every key is off (the plain step then runs unchanged)."""

        module = build_augment(augment, trust)
        reg = cls(module, mixup_alpha, l1, max_norm, l1_mode)
        return reg if reg.active else None

    @property
    def active(self) -> bool:
        return self.augment is not None or self.mixup_alpha > 0 or self.l1 > 0 or self.max_norm is not None

    def attach(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Remember the model (for L1) and hook max-norm after ``optimizer.step()``."""
        self.model = model
        if self.augment is not None:
            device = next((p.device for p in model.parameters()), torch.device("cpu"))
            self.augment.to(device)
        if optimizer is None:
            return
        if self.l1 > 0 and self.l1_mode == "proximal":
            self._hooks.append(optimizer.register_step_post_hook(lambda opt, *_: soft_threshold(opt, model, self.l1)))
        if self.max_norm is not None:
            self._hooks.append(optimizer.register_step_post_hook(lambda *_: apply_max_norm(model, self.max_norm)))

    def detach(self) -> None:
        """Remove what :meth:`attach` hooked onto the optimizer."""
        for handle in self._hooks:
            handle.remove()
        self._hooks = []

    def train_batch(self, x: torch.Tensor, y: torch.Tensor):
        """(inputs, targets): augmented, and for mixup targets is a :class:`nnml.augment.mixup.MixedBatch`."""
        if self.augment is not None:
            x = self.augment(x)
        if self.mixup_alpha > 0:
            from nnml.augment.mixup import mixup

            mixed = mixup(x, y, self.mixup_alpha)
            return mixed.x, mixed
        return x, y

    def loss(self, criterion, output: torch.Tensor, target) -> torch.Tensor:
        from nnml.augment.mixup import MixedBatch

        loss = target.loss(criterion, output) if isinstance(target, MixedBatch) else criterion(output, target)
        if self.l1 > 0 and self.l1_mode == "penalty" and self.model is not None:
            loss = loss + self.l1 * l1_penalty(self.model)
        return loss

    def training_step(self, task, batch, ctx, metrics):
        """The supervised task's step with these regularizers: augmented (mixed) inputs, the loss with its L1
        penalty; metrics see the unpenalized loss and, under mixup, the dominant label of each pair."""
        xb, yb = self.train_batch(*batch)
        with ctx.autocast():
            out = ctx.forward()(xb)
            loss = self.loss(task.criterion, out.float(), yb)
        metrics.update(out.detach().float(), self.targets(yb), loss.detach())
        return loss

    def targets(self, target) -> torch.Tensor:
        """The labels to score training accuracy against (mixup: the dominant one of each pair)."""
        from nnml.augment.mixup import MixedBatch

        if isinstance(target, MixedBatch):
            return torch.where(target.lam >= 0.5, target.y_a, target.y_b)  # no host sync
        return target


def build_augment(specs, trust=None) -> nn.Module | None:
    """One module from ``task.augment``: a list (or a name -> config dict, applied in its order) of augmentation
    configs with ``_target_`` (under ``trust``: the run's :class:`~nnml.config.targets.Trust`) or already built
    modules. None or empty: no augmentation."""
    if specs is None:
        return None
    if isinstance(specs, Mapping):
        specs = [v for v in specs.values() if v is not None]
    elif isinstance(specs, (str, bytes)) or not isinstance(specs, Iterable):
        raise NnmlError(f"task.augment={specs} is not valid; give a list of augmentation configs with _target_, "
                        "e.g. [{_target_: nnml.augment.signal.RandomShift, max_shift: 3}]")
    modules: list[nn.Module] = []
    for i, spec in enumerate(specs):
        if isinstance(spec, nn.Module):
            modules.append(spec)
            continue
        if not isinstance(spec, Mapping) or "_target_" not in spec:
            raise NnmlError(f"task.augment[{i}]={spec} is not valid; each entry needs a _target_, e.g. "
                            "nnml.augment.signal.GaussianNoise")
        module = instantiate(spec, key=f"task.augment[{i}]", trust=trust or Trust.own({"augment": list(specs)}))
        if not isinstance(module, nn.Module):
            raise NnmlError(f"task.augment[{i}]._target_={spec['_target_']} is not valid; it must build an "
                            "nn.Module whose forward(x) returns the augmented batch")
        modules.append(module)
    if not modules:
        return None
    return modules[0] if len(modules) == 1 else Compose(*modules)
