"""What a run tells its user about itself beyond its numbers: the facts the warnings of :mod:`nnml.tracking.advice`
need (the chance level of the data, the ``nnml lr-find`` command for this run, the learning rate in the notation
typed), gathered here, where the config, the data and the command line meet."""

from __future__ import annotations

from pathlib import Path

import torch

from nnml.config.notation import number_like
from nnml.tasks.capabilities import objective_of


def chance_level(data) -> float | None:
    """The accuracy of always guessing the most frequent class of the training labels (None: not class labels)."""
    y = getattr(data, "y_train", None)
    if getattr(data, "task", "") != "classification" or not isinstance(y, torch.Tensor) or y.dim() != 1 or not len(y):
        return None
    if y.is_floating_point():
        return None
    return float(torch.bincount(y.long().clamp(min=0)).max()) / len(y)


# Overrides that say nothing about what an lr-find should try (how long, where, what the lr already was)
_NOT_FOR_LR_FIND = ("optimizer.lr", "trainer.max_epochs", "resume", "hydra.", "debug", "trainer.patience", "logger",
                    "keep_run")


def lr_find_command(overrides) -> str:
    """``nnml lr-find`` with the run's overrides that shape the model, data and optimizer."""
    import shlex

    kept = [str(o) for o in overrides if not str(o).lstrip("+~").startswith(_NOT_FOR_LR_FIND)]
    return " ".join(["nnml lr-find", *(shlex.quote(o) for o in kept)])


def advisor_for(cfg, ctx, data, task, choices: dict, console_cb):
    """The run's warnings (:mod:`nnml.tracking.advice`), told what they need of the data, the task and the command."""
    from nnml.tracking.advice import Advisor

    typed = ctx.typed.get("optimizer.lr")
    advisor = Advisor(kind=getattr(data, "task", ""), classes=int(getattr(data, "num_outputs", 0) or 0),
                      chance=chance_level(data), loss_name=objective_of(task) or str(choices.get("loss") or ""),
                      lr_override=lambda lr, factor: f"optimizer.lr={number_like(lr * factor, typed)}",
                      lr_find=lr_find_command(ctx.overrides), say=console_cb.warn,
                      fp16=str(cfg.trainer.precision) == "16",
                      overfit_batches=int(cfg.trainer.get("overfit_batches") or 0))
    if cfg.get("resume"):  # a resumed run's loss at init and its epochs so far are in its signals.jsonl
        from nnml.tracking.signals import FILENAME, read_signals

        advisor.resume_from(read_signals(Path(ctx.run_dir) / FILENAME))
    return advisor
