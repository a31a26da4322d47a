"""Learning-rate schedulers: torch's own classes from config, with the sizes the run decides filled in at build time.

A scheduler config holds the torch class's ``_target_`` and arguments plus ``interval`` (``epoch`` or ``step``: when
``scheduler.step()`` is called). ``steps_per_epoch``, ``epochs`` and ``total_steps`` are filled in when the class
takes them and the config leaves them out (OneCycleLR).
"""

from __future__ import annotations

import inspect

import torch

from nnml.errors import NnmlError


def build_scheduler(cfg, optimizer, *, steps_per_epoch: int, max_epochs: int, monitor_mode: str = "min"):
    """(scheduler or None, interval). ``mode: auto`` (ReduceLROnPlateau) follows the monitored metric's mode."""
    from hydra.utils import get_method
    from omegaconf import OmegaConf

    from nnml.config.build import instantiate

    if cfg is None or "_target_" not in cfg:
        return None, "epoch"
    params = OmegaConf.to_container(cfg, resolve=True)
    interval = params.pop("interval", "epoch")
    if interval not in ("epoch", "step"):
        raise NnmlError(f"scheduler.interval={interval} is not valid; choose one of: epoch, step")
    target = get_method(params["_target_"]) if not inspect.isclass(params["_target_"]) else params["_target_"]
    sig = inspect.signature(target)
    sizes = {"steps_per_epoch": steps_per_epoch, "epochs": max_epochs,
             "total_steps": steps_per_epoch * max_epochs if interval == "step" else max_epochs}
    extra = {k: v for k, v in sizes.items() if k in sig.parameters and params.get(k) is None}
    if "total_steps" in extra and "epochs" in sig.parameters:
        extra.pop("total_steps")  # OneCycleLR: epochs x steps_per_epoch or total_steps, not both
    params = {k: v for k, v in params.items() if v is not None or k not in sizes}
    params.pop("_partial_", None)
    if params.get("mode") == "auto":
        params["mode"] = monitor_mode
    return instantiate(params, key="scheduler", optimizer=optimizer, **extra), interval


def warmup_cosine(optimizer, warmup_epochs: int, max_epochs: int, warmup_start_factor: float = 0.01,
                  eta_min: float = 0.0):
    """Linear warm-up for ``warmup_epochs`` then cosine annealing to ``eta_min``: torch's LinearLR and
    CosineAnnealingLR chained by SequentialLR."""
    if warmup_epochs >= max_epochs:
        raise NnmlError(f"scheduler.warmup_epochs={warmup_epochs} must be smaller than trainer.max_epochs={max_epochs}")
    sched = torch.optim.lr_scheduler
    return sched.SequentialLR(
        optimizer,
        [sched.LinearLR(optimizer, start_factor=warmup_start_factor, total_iters=warmup_epochs),
         sched.CosineAnnealingLR(optimizer, T_max=max_epochs - warmup_epochs, eta_min=eta_min)],
        milestones=[warmup_epochs],
    )
