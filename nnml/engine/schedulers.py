"""Learning-rate schedules nnml adds to torch's: ``warmup_cosine``. torch's own schedulers are built from their
configs by :func:`nnml.run.build.build_scheduler`."""

from __future__ import annotations

import torch

from nnml.errors import NnmlError


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
