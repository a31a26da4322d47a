"""Fine-tuning a stand-in for a restored run's model through the run's own task: its training step (its loss, its
augmentations, its regularizers), its training batches and its validation metric, for a few epochs.

``nnml accelerate`` fine-tunes a pruned model this way, so that every task with a training step (classification,
regression, segmentation, text, ...) fine-tunes with exactly the objective the run trained with. The stand-in
replaces the task's primary module for the duration (the task's own modules and optimizers are put back after);
a fresh Adam optimizes it, the loop (:class:`nnml.engine.loop.Trainer`) runs the epochs without writing anything,
and the epoch with the best validation metric is the one kept.
"""

from __future__ import annotations

import copy
import math

import torch

from nnml.errors import NnmlError


def finetune_module(restored, module: torch.nn.Module, epochs: int, lr: float = 1e-3, seed: int | None = None) -> dict:
    """Train ``module`` in place for ``epochs`` epochs through ``restored``'s task (a
    :class:`~nnml.run.restore.RestoredRun`) and leave the best epoch's weights in it, in eval mode. Returns
    ``{"summary", "epochs", "best_epoch", "monitor", "best_metric"}``. Tasks that step their own optimizers (a GAN,
    ALS) are refused: there is no single loss to fine-tune one module with."""
    from nnml.engine.loop import LoopConfig, Trainer
    from nnml.engine.step import OptimizerSlot

    task = restored.task
    if not getattr(task, "automatic_optimization", True):
        raise NnmlError(f"{type(task).__name__} steps its own optimizers, so one of its modules cannot be fine-tuned "
                        f"alone")
    if int(epochs) < 1:
        raise NnmlError(f"fine-tuning needs at least 1 epoch; got {epochs}")
    name = task.primary
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise NnmlError("the module has no trainable parameters to fine-tune")
    builder = copy.copy(restored.builder)
    builder.evaluating = False  # training batches: shuffled, of the training batch size
    loop = restored.trainer.loop
    config = LoopConfig(max_epochs=int(epochs), log_every_n_steps=1 << 30, monitor=loop.monitor, mode=loop.mode,
                        checkpoint_every_s=math.inf)
    saved_modules, saved_slots = task.modules, task.slots
    module.to(restored.device)
    task.modules = {**saved_modules, name: module}
    task.slots = {name: OptimizerSlot(torch.optim.Adam(params, lr=float(lr)))}
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(restored.cfg.seed) if seed is None else int(seed))
            trainer = Trainer(task, task.batches("train", builder), {"val": lambda: task.batches("val", builder)},
                              config, device=restored.device, autocast=restored.trainer.autocast)
            state = trainer.fit()
            trainer.load_best()
    finally:
        task.modules, task.slots = saved_modules, saved_slots
    module.eval()
    best = state.best_metric
    summary = (f"Adam lr {float(lr):g} through {type(task).__name__}'s training step; best {loop.monitor} "
               f"{best:.4f} at epoch {state.best_epoch}" if best is not None else
               f"Adam lr {float(lr):g} through {type(task).__name__}'s training step")
    return {"summary": summary, "epochs": state.epoch, "best_epoch": state.best_epoch, "monitor": loop.monitor,
            "best_metric": best}
