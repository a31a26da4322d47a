"""The training loop: epochs of training steps, validation, the best epoch and early stopping, signals and NaN.

The loop drives a task (:class:`nnml.tasks.base.Task`, known only through its core methods): per batch it calls
``task.training_step`` and, for tasks with automatic optimization, steps the task's optimizer slot; per epoch it
calls ``task.evaluate("val")``. Losses and metrics accumulate on the device and are read on the host only every
``log_every_n_steps`` steps and at the end of an epoch. Weights on disk and in memory are the checkpointer's
(:mod:`nnml.engine.checkpointer`); everything else (console, TensorBoard, files, tuners) hangs off
:class:`~nnml.engine.callbacks.Callback` methods.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import numpy as np
import torch

from nnml.engine.callbacks import Callback, CallbackList, StopTraining
from nnml.engine.checkpointer import Checkpointer, load_task_modules  # noqa: F401  (re-exported for the run)
from nnml.engine.nonfinite import NonFiniteLoss, nonfinite
from nnml.engine.probe import LayerProbe
from nnml.engine.signals import Interrupted, SignalGuard
from nnml.engine.state import LoopConfig, LoopState, Segment
from nnml.engine.step import Accumulation, StepContext, auto_slot, learning_rates, step_epoch_schedulers, step_scalars
from nnml.errors import NnmlError

__all__ = ["Interrupted", "LoopConfig", "LoopState", "NonFiniteLoss", "Trainer", "load_task_modules"]


class Trainer:
    """Fits a task. ``train_batches`` is the training batch source; ``eval_sources`` maps a split to its batch
    source or to a function that builds it when first asked (the test split is built only for the final test).
    ``forward_modules`` replaces some of the task's modules for training batches (compiled, DDP-wrapped);
    ``eval_modules`` for evaluation (compiled, never DDP: evaluation runs no collectives). ``nan_hint(lr)`` is the
    override a NaN message suggests (in the notation the user typed)."""

    def __init__(self, task, train_batches, eval_sources: dict, loop: LoopConfig, *, device, autocast=None,
                 checkpoint_dir: Path | None = None, callbacks: list[Callback] = (), config: dict | None = None,
                 run_dir: Path | None = None, forward_modules: dict | None = None, eval_modules: dict | None = None,
                 dist=None, thread_governor=None, nan_hint=None, stop_check=None):
        self.task, self.train_batches, self.loop, self.device = task, train_batches, loop, device
        self._eval_sources = dict(eval_sources)
        self.autocast = autocast or contextlib.nullcontext
        self.callbacks = CallbackList(callbacks)
        self.run_dir, self.dist = run_dir, dist  # dist: nnml.engine.distributed.Dist or None
        self.thread_governor = thread_governor  # trainer.num_threads=auto: fewer threads when others take cores
        self.nan_hint = nan_hint
        self.stop_check = stop_check  # () -> signal number or 0: a stop asked from outside this process's signals
        self.checkpointer = Checkpointer(task, loop, checkpoint_dir, config or {},
                                         writes=not (dist and dist.rank != 0))
        self._train_forward = {**task.modules, **(forward_modules or {})}
        self._eval_forward = {**task.modules, **(eval_modules if eval_modules is not None else forward_modules or {})}
        self._forward, self.in_train_step = self._train_forward, False
        self._compiled = any(m is not task.modules.get(n) for n, m in self._train_forward.items())
        self._check_every_step = torch.device(device).type == "cpu"  # a finiteness check is a host sync on CUDA
        self.state = LoopState(max_epochs=loop.max_epochs,
                               steps_per_epoch=train_batches.batches_per_epoch(dist.world_size if dist else 1))
        self.ctx = StepContext(self)
        self.accumulation = Accumulation(loop.accumulate_grad_batches, self.state.steps_per_epoch,
                                         self._train_forward.values() if dist else (), task)
        self.probe = LayerProbe.of(task, loop.layer_stats, activations=not self._compiled)
        self._train_metrics = None
        self.segment = Segment(time.perf_counter())

    # ----------------------------------------------------------------- segments, checkpoints
    def start_segment(self, started: float, overrides=()) -> None:
        """This process's stretch of training begins (``started``: its ``time.perf_counter()``)."""
        self.segment = Segment(started, overrides)

    def segments(self) -> list[dict]:
        """Every segment of the run: the ones its checkpoint brought back, then this one."""
        return [*self.state.segments, self.segment.record(self.state, torch.get_num_threads())]

    def snapshot(self) -> dict:
        return self.checkpointer.snapshot(self.state, self.segments(), self._train_metrics)

    def save_checkpoints(self) -> Path | None:
        # Loggers first: a SIGKILL just after last.pt appears must not lose the epochs it covers from TensorBoard.
        self.callbacks.on_before_checkpoint(self.state)
        return self.checkpointer.save(self.state, self.snapshot)

    def restore(self, ckpt: dict, best: dict | None, path) -> None:
        """Continue from a checkpoint (:meth:`nnml.engine.checkpointer.Checkpointer.restore`)."""
        sums = self.checkpointer.restore(self.state, ckpt, best, path)
        self.segment.origin = None  # this segment starts where the checkpoint left off
        if sums:
            self._train_metrics = self.new_train_metrics()
            self._train_metrics.load_state(sums, self.device)

    def load_best(self) -> None:
        self.checkpointer.load_best()

    # ----------------------------------------------------------------- what a task's steps see
    def forward_module(self, name: str | None = None):
        return self._forward[name or self.task.primary]

    def eval_batches_of(self, split: str):
        """The batches of an evaluation split, this rank's shard under DDP."""
        source = self._eval_sources.get(split)
        if source is None:
            raise NnmlError(f"split={split} has no batches; choose one of: {', '.join(sorted(self._eval_sources))}")
        if callable(source) and not hasattr(source, "epoch"):
            source = self._eval_sources[split] = source()
        return source.epoch(0, shard=self._shard())

    def _shard(self) -> tuple[int, int]:
        return (self.dist.rank, self.dist.world_size) if self.dist else (0, 1)

    @property
    def slots(self) -> dict:
        return self.task.slots

    @property
    def main_slot(self):
        return self.task.slots.get(self.task.primary) or next(iter(self.task.slots.values()), None)

    def evaluate(self, split: str, replace: dict | None = None, records: bool = False) -> dict[str, float]:
        """The task's metrics of ``split`` with every module in eval mode (restored after). ``replace``: modules
        that stand in for the task's own during this evaluation (a quantized or exported variant). ``records``: a
        task with per-sample records keeps them during this evaluation (``ctx.recording``); read them with
        :meth:`records`."""
        saved = {name: self.task.modules[name] for name in replace or {}}
        forward = {**self._eval_forward, **(replace or {})}
        self.task.modules.update(replace or {})
        mods = list(self.task.modules.values()) + list(forward.values())
        modes = [m.training for m in mods]
        for m in mods:
            m.eval()
        self._forward, self.in_train_step = forward, False
        self.ctx.recording = bool(records)
        try:
            return self.task.evaluate(split, self.ctx)
        finally:
            self.ctx.recording = False
            for m, mode in zip(mods, modes):
                m.train(mode)
            self.task.modules.update(saved)
            self._forward = self._train_forward

    def records(self, split: str) -> dict | None:
        """The per-sample records of the last evaluation of ``split`` made with ``records=True``, or None when the
        task keeps none (its ``records(split, ctx)``, :class:`nnml.tasks.capabilities.Records`). Under DDP every
        rank recorded its own shard: they are gathered on every rank and joined in split order (rows with an
        ``index`` sorted by it, a sample recorded by several ranks kept once; records without ``index``, which each
        rank computed on the whole split, are rank 0's)."""
        method = getattr(self.task, "records", None)
        found = method(split, self.ctx) if callable(method) else None
        if self.dist is None or self.dist.world_size == 1:
            return found
        parts = self.dist.all_gather_object(found)
        if any(p is None for p in parts):
            return None
        if "index" not in parts[0]:
            return parts[0]
        from nnml.stats import concat_records

        joined = concat_records(parts)
        _, first = np.unique(joined["index"], return_index=True)  # sorted by index, duplicates once
        return {k: v[first] for k, v in joined.items()}

    # ----------------------------------------------------------------- training
    def fit(self) -> LoopState:
        st, task = self.state, self.task
        self._auto_slot = auto_slot(task)
        self.segment.begin(st)
        if st.epoch >= st.max_epochs and st.step_in_epoch == 0:
            # A resumed run that already has its epochs: nothing to train; the caller still tests the best weights.
            st.stop_reason = (f"already trained {st.epoch} epochs (trainer.max_epochs={st.max_epochs}); "
                              f"extend it with trainer.max_epochs=N")
        self.callbacks.on_fit_start(st)
        guard = SignalGuard(self.stop_check)
        try:
            with guard, self.probe or contextlib.nullcontext():  # the probe's hooks go with the fit
                while st.epoch < st.max_epochs and not self._run_epoch(guard):
                    pass
        except Interrupted as e:
            e.checkpoint = self.save_checkpoints()
            raise
        except StopTraining as e:
            st.stop_reason = e.reason
        st.stop_reason = st.stop_reason or "max_epochs"
        self.save_checkpoints()
        self.callbacks.on_fit_end(st)
        return st

    def _run_epoch(self, guard: SignalGuard) -> bool:
        """One epoch: train, validate when due, schedulers, the best epoch, callbacks, checkpoints. True to stop."""
        st = self.state
        self._train_epoch(guard)
        metrics, epoch = dict(st.last_metrics), st.epoch + 1
        if epoch % max(1, self.loop.val_every_n_epochs) == 0 or epoch == st.max_epochs:
            t0 = time.perf_counter()
            metrics.update({f"val/{k}": v for k, v in self.evaluate("val").items()})
            st.eval_time_s += time.perf_counter() - t0
        metrics.update(learning_rates(self.task.slots, self.main_slot))
        st.epoch, st.step_in_epoch = epoch, 0
        step_epoch_schedulers(self.task.slots, metrics.get(self.loop.monitor))
        self.checkpointer.after_epoch(st, epoch, metrics)  # the best epoch, early stopping
        st.last_metrics = metrics
        self.callbacks.on_epoch_end(st, metrics)
        note = self.thread_governor.after_epoch() if self.thread_governor is not None else None
        if note:
            self.callbacks.on_notice(st, note)
        self.checkpointer.keep_epoch(st, epoch, metrics, self.snapshot)
        if self.callbacks.wants_artifacts and hasattr(self.task, "epoch_artifacts"):
            artifacts = self.task.epoch_artifacts(epoch, self.ctx)
            if artifacts:
                self.callbacks.on_artifacts(st, {**artifacts, "epoch": epoch})
        if st.stop_reason:
            return True
        if guard.stopped():
            raise Interrupted(guard.signum, None)
        if self.checkpointer.due(epoch, st.max_epochs):
            self.save_checkpoints()
        return False

    def _step(self, batch, metrics):
        task, ctx = self.task, self.ctx
        ctx.last_grad_norm = None
        try:
            if task.automatic_optimization:
                micro = self.accumulation.window(self.state.step_in_epoch)  # trainer.accumulate_grad_batches
                with self.accumulation.sync(micro):
                    out = task.training_step(batch, ctx, metrics)
                    ctx.last_grad_norm = self._auto_slot.step(out, micro=micro)
                return out, None
            out = task.training_step(batch, ctx, metrics)
        except RuntimeError as e:  # trainer.detect_anomaly=true names the backward op that made a NaN
            if "returned nan values" not in str(e):
                raise
            raise self.nonfinite(f"step {self.state.global_step + 1}", str(e).splitlines()[0].rstrip(".")) from None
        loss = out.get("loss", next(iter(out.values()))) if isinstance(out, dict) else out
        return loss, out

    def _train_epoch(self, guard: SignalGuard) -> None:
        st = self.state
        if self._train_metrics is None:
            self._train_metrics = self.new_train_metrics()
        elif st.step_in_epoch == 0:
            self._train_metrics.reset()
        metrics = self._train_metrics
        for m in self._train_forward.values():
            if not m.training:  # evaluate() restores train mode; a walk of the module tree costs ~90 us an epoch
                m.train()
        self._forward, self.in_train_step = self._train_forward, True
        t0, samples, log_every = time.perf_counter(), 0, max(1, self.loop.log_every_n_steps)
        per_step = self.callbacks.wants_steps
        for batch in self.train_batches.epoch(st.epoch, start_batch=st.step_in_epoch, shard=self._shard()):
            n, tc = self.task.batch_size(batch), time.perf_counter()
            loss, logged = self._step(batch, metrics)
            if st.global_step == 0 and st.compile_time_s == 0 and self._compiled:
                float(loss.detach())  # the first compiled step compiles; time it apart from throughput
                st.compile_time_s = time.perf_counter() - tc
                t0, samples = t0 + st.compile_time_s, samples - n  # ... and its samples apart too
            samples, st.global_step, st.step_in_epoch = samples + n, st.global_step + 1, st.step_in_epoch + 1
            if self._check_every_step and not math.isfinite(loss.item()):  # .item() is ~0.2 us on the CPU
                raise self.nonfinite(f"step {st.global_step}")
            if per_step:  # a callback that sees every step (debug=profile's profiler)
                self.callbacks.on_train_step(st)
            if st.global_step % log_every == 0 or st.global_step == 1:  # step 1: the loss at init
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise self.nonfinite(f"step {st.global_step} or shortly before")
                self.callbacks.on_train_log(st, step_scalars(loss_value, logged, self.main_slot,
                                                             self.ctx.last_grad_norm, self.probe))
            if guard.stopped() and self.accumulation.at_boundary(st.step_in_epoch):  # checkpoints lie between groups
                st.train_time_s, st.train_samples = st.train_time_s + time.perf_counter() - t0, st.train_samples + samples
                raise Interrupted(guard.signum, None)
        self.in_train_step = False
        if self.dist:
            self.dist.reduce_metric_state(metrics)
        train = metrics.compute()  # host sync: the epoch's steps are done
        st.train_time_s += time.perf_counter() - t0
        st.train_samples += samples * (self.dist.world_size if self.dist else 1)
        if "loss" in train and not math.isfinite(train["loss"]):
            raise self.nonfinite(f"epoch {st.epoch + 1}")
        st.last_metrics = {f"train/{k}": v for k, v in train.items()}

    def new_train_metrics(self):
        """The task's accumulator for a training epoch; with ``trainer.train_metrics=false`` it keeps the losses
        alone (``only_losses()``: no argmax or confusion matrix a step, no per-sample means to fold)."""
        metrics = self.task.train_metrics()
        if self.loop.train_metrics:
            return metrics
        if not callable(getattr(metrics, "only_losses", None)):
            raise NnmlError(f"trainer.train_metrics=false: task {type(self.task).__name__}'s training metrics "
                            f"({type(metrics).__name__}) cannot keep their losses alone (no only_losses()); use "
                            f"trainer.train_metrics=true")
        return metrics.only_losses()

    def nonfinite(self, where: str, what: str = "loss became non-finite") -> NonFiniteLoss:
        return nonfinite(where, what, self.state.epoch + 1, self.main_slot, self.checkpointer.folder, self.nan_hint)
