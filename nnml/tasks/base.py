"""The interface between the loop and one kind of learning.

A task owns what differs between kinds of learning: the modules and optimizers it builds from the config (with the
sizes the data decides), how batches are made from the data, its training step, its evaluation, its metrics (each
with a direction), its figures and any extra state a checkpoint must hold. The loop
(:class:`nnml.engine.loop.Trainer`) owns what is common: epochs, validation cadence, best state and early stopping,
checkpoints and exact resume, signals, NaN checks, autocast and GradScaler, clipping and schedulers per optimizer,
DDP, timing and callbacks. The loop knows a task only through the methods below; a task never runs epochs, writes
checkpoints or talks to TensorBoard.

Life of a task in ``nnml train`` (see ``nnml/run/train.py``)::

    task = instantiate(cfg.task)             # configs/task/<name>.yaml: the task's own keys
    task.setup(builder)                      # builder.model(...), builder.optimizer(...), builder.loss(...)
    source = task.batches("train", builder)  # and "val", "test"
    Trainer(task, ...).fit()                 # training_step per batch, evaluate("val") per epoch
    task.evaluate("test", ctx)               # on the best weights
    task.final_artifacts(ctx)                # if it has them: figures, images, text, embeddings for the trackers

Writing a task: subclass :class:`Task`, set ``modules`` and ``slots`` in :meth:`setup`, implement
:meth:`training_step` and :meth:`validation_step` (or :meth:`evaluate` for evaluations that are not per batch),
and say which metrics you report in :meth:`metric_directions`. ``nnml/tasks/supervised/task.py`` is the worked example;
``docs/your_own_code.md`` shows a task in a user's own file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from nnml.engine.metrics import MeanMetrics


class Task:
    """Base class of every task. Subclasses are built by Hydra from ``configs/task/<name>.yaml`` with that file's
    keys as constructor arguments, then :meth:`setup` is called with a builder."""

    #: the metric that picks the best epoch when ``trainer.monitor=auto`` (a ``val/`` metric of
    #: :meth:`metric_directions`); its direction comes from there
    default_monitor: str = "val/loss"
    #: True: :meth:`training_step` returns a loss and the loop steps the task's only optimizer with it.
    #: False: the task calls ``ctx.optimize(loss, name)`` itself (several optimizers) or none (closed-form updates)
    #: and returns a dict of scalar tensors to log.
    automatic_optimization: bool = True
    #: False for tasks that minimise an objective of their own (the -ELBO, a GAN loss, NT-Xent, a CRF's NLL):
    #: a ``loss=...`` typed for them would be ignored, so the checks before a run refuse it
    uses_loss_config: bool = True

    def __init__(self, **kwargs: Any):
        if kwargs:
            from nnml.errors import NnmlError

            raise NnmlError(f"task {type(self).__name__} takes no keys; got {', '.join(sorted(kwargs))}")
        #: name -> module; every module is moved to the device, saved in checkpoints and restored on resume
        self.modules: dict[str, nn.Module] = {}
        #: name -> :class:`nnml.engine.step.OptimizerSlot` (optimizer, scheduler, clipping, scaler)
        self.slots: dict = {}

    # ------------------------------------------------------------------ building
    def setup(self, builder) -> None:
        """Build ``self.modules`` and ``self.slots``. ``builder`` (:class:`nnml.run.build.Builder`) knows the config,
        the data and the device: ``builder.model(cfg_node)`` passes the data's facts by name,
        ``builder.optimizer(name, cfg_node, params, scheduler_node)`` makes a slot, ``builder.loss(cfg_node)``."""
        raise NotImplementedError

    def batches(self, split: str, builder):
        """The batch source of ``split`` (``train`` shuffled, ``val``/``test`` in order). The default slices the
        data's ``(x, y)`` tensors in memory on the device; tasks with other data override this and call
        ``builder.tensor_batches(split, tensors)`` with their own tuple or dict of tensors."""
        data = builder.data
        if hasattr(data, "batches"):
            return data.batches(split, builder)
        return builder.tensor_batches(split, data.split(split))

    @property
    def primary(self) -> str:
        """The module whose parameter count and summary the header shows, and whose state is ``model`` in
        checkpoints for tools that read one model."""
        return "model" if "model" in self.modules else next(iter(self.modules), "model")

    # ------------------------------------------------------------------ metrics
    def metric_directions(self) -> dict[str, str]:
        """Metric name (without the split prefix) -> ``max`` or ``min``: what "better" means for each metric this
        task reports. Written to metrics.json as ``directions``, read by early stopping, the best checkpoint,
        ``nnml compare``, the sweep summary and ``nnml tune``."""
        return {"loss": "min"}

    def train_metrics(self):
        """A fresh accumulator for one training epoch: an object with ``update``-style methods the task calls,
        ``state()`` (the live sum tensors: checkpointed and all-reduced in place under DDP), ``compute()``
        (name -> float) and ``reset()``. The default, :class:`MeanMetrics`, averages named scalars."""
        return MeanMetrics(self.device)

    def eval_metrics(self, split: str):
        """A fresh accumulator for evaluating ``split``."""
        return MeanMetrics(self.device)

    # ------------------------------------------------------------------ steps
    def training_step(self, batch, ctx, metrics):
        """One training batch. Update ``metrics`` (detached values). With ``automatic_optimization`` return the
        loss tensor; otherwise optimize through ``ctx.optimize(loss, name)`` and return a dict of scalar tensors
        (its ``loss`` entry, or the first, is what the loop checks for NaN and logs as ``train/step_loss``)."""
        raise NotImplementedError

    def evaluate(self, split: str, ctx) -> dict[str, float]:
        """Metrics of ``split`` (name -> float, no split prefix). The default runs ``validation_step(batch, ctx,
        metrics)`` (:class:`~nnml.tasks.capabilities.StepsValidation`: one batch under ``torch.inference_mode`` and
        autocast) over ``ctx.batches(split)``; tasks whose evaluation is not per batch (a linear probe, ranking over
        all users, a Frechet distance of samples) override it."""
        if not hasattr(self, "validation_step"):
            raise NotImplementedError(f"{type(self).__name__} needs validation_step(batch, ctx, metrics) or its own "
                                      f"evaluate(split, ctx)")
        metrics = self.eval_metrics(split)
        with torch.inference_mode():
            for batch in ctx.batches(split):
                with ctx.autocast():
                    self.validation_step(batch, ctx, metrics)
        ctx.all_reduce(metrics)
        return metrics.compute()

    def batch_size(self, batch) -> int:
        """Samples in a batch, for throughput."""
        first = next(iter(batch.values())) if isinstance(batch, Mapping) else batch[0]
        return int(first.shape[0])

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Extra state a checkpoint must hold beyond modules, optimizers, schedulers and scalers (a fixed noise
        batch, an EMA step count): tensors and plain data only."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    @property
    def device(self) -> torch.device:
        for m in self.modules.values():
            for t in list(m.parameters()) + list(m.buffers()):
                return t.device
        return torch.device("cpu")


def facts_of(module_cls) -> list[str]:
    """The constructor parameters of ``module_cls`` (for messages naming what a model accepts)."""
    import inspect

    try:
        return list(inspect.signature(module_cls).parameters)
    except (TypeError, ValueError):
        return []
