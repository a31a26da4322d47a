"""The training loop: fit with validation, early stopping, best-state tracking, checkpoints and interrupts.

The loop drives a task (:class:`nnml.tasks.base.Task`, known only through its methods): per batch it calls
``task.training_step`` and, for tasks with automatic optimization, steps the task's optimizer slot; per epoch it
calls ``task.evaluate("val")``. Losses and metrics accumulate on the device and are read on the host only every
``log_every_n_steps`` steps and at the end of an epoch. Everything else (console, TensorBoard, files, tuners) hangs
off :class:`~nnml.engine.callbacks.Callback` methods.
"""

from __future__ import annotations

import json
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nnml.engine.callbacks import Callback, CallbackList, StopTraining
from nnml.engine.checkpoint import atomic_save, load_model_weights, rng_state, set_rng_state
from nnml.engine.step import StepContext
from nnml.errors import NnmlError
from nnml.version import __version__


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived; the loop saved ``last.pt`` and stopped. ``exit_code`` is 130 or 143."""

    def __init__(self, signum: int, checkpoint: Path | None):
        self.signum = signum
        self.exit_code = 128 + signum
        self.checkpoint = checkpoint
        super().__init__(signal.Signals(signum).name)


class NonFiniteLoss(NnmlError):
    exit_code = 1


@dataclass
class LoopState:
    """Everything the loop knows about a run; callbacks read it, checkpoints save the counters."""

    max_epochs: int
    steps_per_epoch: int
    epoch: int = 0  # epochs finished
    step_in_epoch: int = 0  # batches finished in the unfinished epoch (a mid-epoch interrupt)
    global_step: int = 0
    best_metric: float | None = None
    best_epoch: int = -1
    bad_epochs: int = 0
    stop_reason: str = ""
    train_time_s: float = 0.0
    train_samples: int = 0
    eval_time_s: float = 0.0
    checkpoint_time_s: float = 0.0
    compile_time_s: float = 0.0
    last_metrics: dict = field(default_factory=dict)
    segments: list = field(default_factory=list)  # the finished segments (a start, each resume), oldest first
    top_k: list = field(default_factory=list)  # checkpoints kept by trainer.save_top_k, best first
    info: dict = field(default_factory=dict)  # run facts for callbacks: run_dir, device, sizes, params, ...

    def counters(self) -> dict:
        return {k: getattr(self, k) for k in ("epoch", "step_in_epoch", "global_step", "best_metric", "best_epoch",
                                              "bad_epochs", "train_time_s", "train_samples", "eval_time_s",
                                              "checkpoint_time_s", "last_metrics", "segments", "top_k")}


class _SignalGuard:
    """First SIGINT/SIGTERM sets a flag the loop checks after each step; a second SIGINT stops at once.

    ``external``: a function asked at most every ``POLL_S`` seconds whether someone else asks this run to stop (the
    signal number, or 0): a sweep whose command got Ctrl-C while this job runs in another process."""

    POLL_S = 0.25

    def __init__(self, external=None):
        self.signum = 0
        self._old = {}
        self._external = external
        self._next_poll = 0.0

    def _handle(self, signum, frame):
        if self.signum and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def stopped(self) -> int:
        """The signal that asks the loop to stop (0: none); polls ``external`` when its time has come."""
        if not self.signum and self._external is not None:
            now = time.monotonic()
            if now >= self._next_poll:
                self._next_poll = now + self.POLL_S
                self.signum = int(self._external() or 0)
        return self.signum

    def __enter__(self):
        try:
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        except ValueError:
            pass  # not the main thread (a launcher's worker): signals stay with the host
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


@dataclass
class LoopConfig:
    """The trainer keys the loop itself reads (``configs/trainer/default.yaml`` documents each)."""

    max_epochs: int = 1
    log_every_n_steps: int = 50
    val_every_n_epochs: int = 1
    monitor: str = "val/loss"
    mode: str = "min"
    patience: int | None = None
    checkpoint_every_n_epochs: int = 0
    checkpoint_every_s: float = 60.0
    save_top_k: int = 0  # besides best.pt and last.pt: the k best epochs by the monitor, checkpoints/epoch-NNNN.pt
    keep_every_n_epochs: int = 0  # ... and every N-th epoch's, kept for good

    @classmethod
    def from_trainer(cls, tr, monitor: str, mode: str) -> "LoopConfig":
        """From the composed ``trainer`` node; monitor and mode as :func:`nnml.run.build.resolve_monitor` resolved them."""
        return cls(max_epochs=int(tr.max_epochs), log_every_n_steps=int(tr.get("log_every_n_steps", 50)),
                   val_every_n_epochs=int(tr.get("val_every_n_epochs", 1)), monitor=monitor, mode=mode,
                   patience=tr.get("patience"), checkpoint_every_n_epochs=int(tr.get("checkpoint_every_n_epochs", 0)),
                   checkpoint_every_s=float(tr.get("checkpoint_every_s", 60)),
                   save_top_k=int(tr.get("save_top_k", 0) or 0),
                   keep_every_n_epochs=int(tr.get("keep_every_n_epochs", 0) or 0))


class Trainer:
    """Fits a task. ``train_batches`` is the training batch source; ``eval_sources`` maps a split to its batch
    source or to a function that builds it when first asked (the test split is built only for the final test).
    ``forward_modules`` replaces some of the task's modules for training batches (compiled, DDP-wrapped);
    ``eval_modules`` for evaluation (compiled, never DDP: evaluation runs no collectives)."""

    def __init__(self, task, train_batches, eval_sources: dict, loop: LoopConfig, *, device, autocast=None,
                 checkpoint_dir: Path | None = None, callbacks: list[Callback] = (), config: dict | None = None,
                 run_dir: Path | None = None, forward_modules: dict | None = None, eval_modules: dict | None = None,
                 dist=None, thread_governor=None, nan_hint=None, stop_check=None):
        import contextlib

        self.task = task
        self.stop_check = stop_check  # () -> signal number or 0: a stop asked from outside this process's signals
        self.thread_governor = thread_governor  # trainer.num_threads=auto: fewer threads when others take cores
        self.nan_hint = nan_hint  # lr -> the override to try after a NaN (in the notation the user typed)
        self.train_batches = train_batches
        self._eval_sources = dict(eval_sources)
        self.loop = loop
        self.device = device
        self.autocast = autocast or contextlib.nullcontext
        self.ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.callbacks = CallbackList(callbacks)
        self.config = config or {}
        self.run_dir = run_dir
        self.dist = dist  # nnml.engine.distributed.Dist or None
        self._train_forward = {**task.modules, **(forward_modules or {})}
        self._eval_forward = {**task.modules, **(eval_modules if eval_modules is not None else forward_modules or {})}
        self._forward = self._train_forward
        self.in_train_step = False
        self._primary = task.primary
        world = dist.world_size if dist else 1
        self.state = LoopState(max_epochs=loop.max_epochs, steps_per_epoch=train_batches.batches_per_epoch(world))
        self.best_state: dict | None = None
        self.ctx = StepContext(self)
        self._train_metrics = None
        self._last_ckpt_time = time.monotonic()
        self._check_every_step = torch.device(device).type == "cpu"  # a finiteness check is a host sync on CUDA
        self._compiled = any(m is not task.modules.get(n) for n, m in self._train_forward.items())
        self.start_segment(time.perf_counter())

    # ----------------------------------------------------------------- segments
    def start_segment(self, started: float, overrides=()) -> None:
        """This process's stretch of training begins (``started``: its ``time.perf_counter()``); a resumed run's
        earlier segments come back with its checkpoint, so its totals add up across resumes."""
        from datetime import datetime, timezone

        self._segment = {"started_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "overrides": [str(o) for o in overrides]}
        self._segment_t0 = started
        self._segment_from = None  # counters at the start, read once restore() has run

    def _segment_origin(self) -> tuple[int, float]:
        if self._segment_from is None:
            self._segment_from = (self.state.epoch, self.state.train_time_s)
        return self._segment_from

    def segment_record(self) -> dict:
        """This segment so far: the epochs it trained, its wall and training time, why it stopped."""
        from_epoch, train0 = self._segment_origin()
        st = self.state
        return {**self._segment, "from_epoch": from_epoch, "to_epoch": st.epoch,
                "wall_time_s": round(time.perf_counter() - self._segment_t0, 3),
                "train_time_s": round(st.train_time_s - train0, 4), "stop_reason": st.stop_reason,
                "threads": torch.get_num_threads()}

    def segments(self) -> list[dict]:
        """Every segment of the run: the ones its checkpoint brought back, then this one."""
        return [*self.state.segments, self.segment_record()]

    # ----------------------------------------------------------------- what a task's steps see
    def forward_module(self, name: str | None = None):
        return self._forward[name or self._primary]

    def eval_batches_of(self, split: str):
        """The batches of an evaluation split, this rank's shard under DDP."""
        source = self._eval_sources.get(split)
        if source is None:
            raise NnmlError(f"split={split} has no batches; choose one of: {', '.join(sorted(self._eval_sources))}")
        if callable(source) and not hasattr(source, "epoch"):
            source = self._eval_sources[split] = source()
        shard = (self.dist.rank, self.dist.world_size) if self.dist else (0, 1)
        return source.epoch(0, shard=shard)

    @property
    def slots(self) -> dict:
        return self.task.slots

    @property
    def _main_slot(self):
        slots = self.task.slots
        return slots.get(self._primary) or next(iter(slots.values()), None)

    # ----------------------------------------------------------------- evaluation
    def evaluate(self, split: str, replace: dict | None = None) -> dict[str, float]:
        """The task's metrics of ``split`` with every module in eval mode (restored after). ``replace``: modules
        that stand in for the task's own during this evaluation (a quantized or exported variant)."""
        saved = {name: self.task.modules[name] for name in replace or {}}
        forward = {**self._eval_forward, **(replace or {})}
        self.task.modules.update(replace or {})
        mods = list(self.task.modules.values()) + list(forward.values())
        modes = [m.training for m in mods]
        for m in mods:
            m.eval()
        self._forward, self.in_train_step = forward, False
        try:
            return self.task.evaluate(split, self.ctx)
        finally:
            for m, mode in zip(mods, modes):
                m.train(mode)
            self.task.modules.update(saved)
            self._forward = self._train_forward

    # ----------------------------------------------------------------- checkpoints
    def checkpoint_dict(self) -> dict:
        modules = {name: m.state_dict() for name, m in self.task.modules.items()}
        slots = {name: slot.state_dict() for name, slot in self.task.slots.items()}
        main = slots.get(self._primary) or next(iter(slots.values()), {})
        return {
            "format": 2,
            "modules": modules,
            "slots": slots,
            # the primary module and slot again, under the names of the format before tasks (tools that read one
            # model and optimizer; torch.save stores shared tensors once)
            "model": modules.get(self._primary, {}),
            "optimizer": main.get("optimizer"),
            "scheduler": main.get("scheduler"),
            "scaler": main.get("scaler"),
            "task": self.task.state_dict(),
            "loop": {**self.state.counters(), "segments": self.segments()},
            "train_metrics": self._train_metrics.state() if self._train_metrics is not None else {},
            "rng": rng_state(),
            "config": self.config,
            "nnml_version": __version__,
        }

    def save_checkpoints(self) -> Path | None:
        """Write best.pt (if the best changed) then last.pt; rank 0 only."""
        if self.ckpt_dir is None or (self.dist and self.dist.rank != 0):
            return None
        t0 = time.perf_counter()
        if self.best_state is not None and self.best_state.get("_dirty"):
            best = self.best_state
            atomic_save({"format": 2, "modules": best["modules"], "model": best["modules"].get(self._primary, {}),
                         "task": best.get("task", {}), "loop": best["loop"], "config": self.config,
                         "nnml_version": __version__}, self.ckpt_dir / "best.pt")
            self.best_state["_dirty"] = False
        path = self.ckpt_dir / "last.pt"
        atomic_save(self.checkpoint_dict(), path)
        self.state.checkpoint_time_s += time.perf_counter() - t0
        self._last_ckpt_time = time.monotonic()
        self.callbacks.on_checkpoint(self.state, path)
        return path

    def restore(self, ckpt: dict, best: dict | None, path) -> None:
        """Continue from a checkpoint written by :meth:`checkpoint_dict` (or by nnml before tasks existed)."""
        load_task_modules(self.task, ckpt, path)
        slots = ckpt.get("slots")
        if slots is None:  # the format before tasks: one model, one optimizer
            slots = {self._primary: {"optimizer": ckpt.get("optimizer"), "scheduler": ckpt.get("scheduler"),
                                     "scaler": ckpt.get("scaler")}}
        for name, slot in self.task.slots.items():
            saved = slots.get(name)
            if saved is None or saved.get("optimizer") is None:
                raise NnmlError(f"checkpoint {path}: no optimizer state for {name!r}; it was saved by another task")
            try:
                slot.optimizer.load_state_dict(saved["optimizer"])
            except (ValueError, KeyError) as e:
                raise NnmlError(f"checkpoint {path}: optimizer state does not fit the configured optimizer "
                                f"({e})") from None
            if slot.scheduler is not None and saved.get("scheduler"):
                slot.scheduler.load_state_dict(saved["scheduler"])
            if slot.scaler is not None and saved.get("scaler"):
                slot.scaler.load_state_dict(saved["scaler"])
        self.task.load_state_dict(ckpt.get("task") or {})
        for k, v in ckpt["loop"].items():
            setattr(self.state, k, v)
        self._segment_from = None  # this segment starts where the checkpoint left off
        if ckpt.get("train_metrics"):
            self._train_metrics = self.task.train_metrics()
            self._train_metrics.load_state(ckpt["train_metrics"], self.device)
        if best is not None:
            self.best_state = {"modules": best.get("modules") or {self._primary: best["model"]},
                               "task": best.get("task", {}), "loop": best["loop"], "_dirty": False}
        set_rng_state(ckpt["rng"])

    def _is_better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        best = self.state.best_metric
        return best is None or (value > best if self.loop.mode == "max" else value < best)

    def _keep_best(self, epoch: int) -> None:
        self.best_state = {
            "modules": {name: {k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()}
                        for name, m in self.task.modules.items()},
            "task": self.task.state_dict(),
            "loop": {"epoch": epoch, "best_metric": self.state.best_metric},
            "_dirty": True,
        }

    # ----------------------------------------------------------------- training
    def _nonfinite(self, where: str, what: str = "loss became non-finite") -> NonFiniteLoss:
        slot = self._main_slot
        last = self.ckpt_dir / "last.pt" if self.ckpt_dir else None
        kept = (f"the last good checkpoint {last} is kept" if last is not None and last.is_file()
                else "no checkpoint was written before it")
        if slot is None:
            return NonFiniteLoss(f"{what} at {where} (epoch {self.state.epoch + 1}); {kept}")
        lr = slot.lr
        smaller = self.nan_hint(lr) if self.nan_hint else f"optimizer.lr={lr / 10:g}"
        return NonFiniteLoss(
            f"{what} at {where} (epoch {self.state.epoch + 1}, lr {lr:g}); {kept}. Try a smaller learning rate "
            f"(e.g. {smaller}), trainer.grad_clip=1.0, or trainer.detect_anomaly=true to find the operation")

    def _step(self, batch, metrics):
        task, ctx = self.task, self.ctx
        ctx.last_grad_norm = None
        out = task.training_step(batch, ctx, metrics)
        if task.automatic_optimization:
            ctx.last_grad_norm = self._auto_slot.step(out)
            return out, None
        loss = out.get("loss", next(iter(out.values()))) if isinstance(out, dict) else out
        return loss, out

    def _train_epoch(self, guard: _SignalGuard) -> None:
        st = self.state
        epoch = st.epoch
        if self._train_metrics is None:
            self._train_metrics = self.task.train_metrics()
        elif st.step_in_epoch == 0:
            self._train_metrics.reset()
        metrics = self._train_metrics
        shard = (self.dist.rank, self.dist.world_size) if self.dist else (0, 1)
        for m in self._train_forward.values():
            m.train()
        self._forward, self.in_train_step = self._train_forward, True
        t0 = time.perf_counter()
        samples = 0
        log_every = max(1, self.loop.log_every_n_steps)
        for batch in self.train_batches.epoch(epoch, start_batch=st.step_in_epoch, shard=shard):
            n = self.task.batch_size(batch)
            if st.global_step == 0 and st.compile_time_s == 0 and self._compiled:
                tc = time.perf_counter()
                loss, logged = self._step(batch, metrics)
                float(loss.detach())  # the first compiled step compiles; time it apart from throughput
                st.compile_time_s = time.perf_counter() - tc
                t0 += st.compile_time_s
                samples -= n  # ... and its samples apart too
            else:
                try:
                    loss, logged = self._step(batch, metrics)
                except RuntimeError as e:  # trainer.detect_anomaly=true names the backward op that made a NaN
                    if "returned nan values" not in str(e):
                        raise
                    raise self._nonfinite(f"step {st.global_step + 1}", str(e).splitlines()[0].rstrip(".")) from None
            samples += n
            st.global_step += 1
            st.step_in_epoch += 1
            if self._check_every_step and not math.isfinite(loss.item()):  # .item() is ~0.2 us on the CPU
                raise self._nonfinite(f"step {st.global_step}")
            if st.global_step % log_every == 0:
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise self._nonfinite(f"step {st.global_step} or shortly before")
                self.callbacks.on_train_log(st, self._step_scalars(loss_value, logged))
            if guard.stopped():
                st.train_time_s += time.perf_counter() - t0
                st.train_samples += samples
                raise Interrupted(guard.signum, None)
        self.in_train_step = False
        if self.dist:
            self.dist.reduce_metric_state(metrics)
        train = metrics.compute()  # host sync: the epoch's steps are done
        st.train_time_s += time.perf_counter() - t0
        st.train_samples += samples * (self.dist.world_size if self.dist else 1)
        if "loss" in train and not math.isfinite(train["loss"]):
            raise self._nonfinite(f"epoch {epoch + 1}")
        st.last_metrics = {f"train/{k}": v for k, v in train.items()}

    def _step_scalars(self, loss_value: float, logged) -> dict:
        scalars = {"train/loss": loss_value}
        if logged:
            scalars.update({f"train/step_{k}": float(v) for k, v in logged.items() if k != "loss"})
        slot = self._main_slot
        if slot is not None:
            gn = self.ctx.last_grad_norm
            scalars["grad_norm"] = float(gn) if gn is not None else slot.grad_norm()
            scalars["lr"] = slot.lr
        return scalars

    def _lrs(self) -> dict:
        slots = self.task.slots
        if not slots:
            return {}
        out = {"lr": self._main_slot.lr}
        if len(slots) > 1:
            out.update({f"lr/{name}": slot.lr for name, slot in slots.items()})
        return out

    def fit(self) -> LoopState:
        st = self.state
        slots = self.task.slots
        if self.task.automatic_optimization and len(slots) != 1:
            raise NnmlError(f"task {type(self.task).__name__} has automatic_optimization but {len(slots)} optimizer "
                            f"slots; it needs exactly one (or set automatic_optimization = False and call "
                            f"ctx.optimize itself)")
        self._auto_slot = next(iter(slots.values()), None)
        self._segment_origin()
        if st.epoch >= st.max_epochs and st.step_in_epoch == 0:
            # A resumed run that already has its epochs: nothing to train; the caller still tests the best weights.
            st.stop_reason = (f"already trained {st.epoch} epochs (trainer.max_epochs={st.max_epochs}); "
                              f"extend it with trainer.max_epochs=N")
        self.callbacks.on_fit_start(st)
        guard = _SignalGuard(self.stop_check)
        val_every = max(1, self.loop.val_every_n_epochs)
        try:
            with guard:
                while st.epoch < st.max_epochs:
                    self._train_epoch(guard)
                    metrics = dict(st.last_metrics)
                    epoch = st.epoch + 1
                    if epoch % val_every == 0 or epoch == st.max_epochs:
                        t0 = time.perf_counter()
                        metrics.update({f"val/{k}": v for k, v in self.evaluate("val").items()})
                        st.eval_time_s += time.perf_counter() - t0
                    metrics.update(self._lrs())
                    st.epoch, st.step_in_epoch = epoch, 0
                    self._after_epoch(epoch, metrics)
                    st.last_metrics = metrics
                    self.callbacks.on_epoch_end(st, metrics)
                    if self.thread_governor is not None:
                        note = self.thread_governor.after_epoch()
                        if note:
                            self.callbacks.on_notice(st, note)
                    self._keep_epoch_checkpoint(epoch, metrics)
                    if self.callbacks.wants_artifacts:
                        artifacts = self.task.epoch_artifacts(epoch, self.ctx)
                        if artifacts:
                            self.callbacks.on_artifacts(st, {**artifacts, "epoch": epoch})
                    if st.stop_reason:
                        break
                    if guard.stopped():
                        raise Interrupted(guard.signum, None)
                    due = (self.loop.checkpoint_every_n_epochs and epoch % self.loop.checkpoint_every_n_epochs == 0) \
                        or (self.loop.checkpoint_every_s and
                            time.monotonic() - self._last_ckpt_time >= self.loop.checkpoint_every_s)
                    if due and epoch < st.max_epochs:
                        self.save_checkpoints()
        except Interrupted as e:
            e.checkpoint = self.save_checkpoints()
            raise
        except StopTraining as e:
            st.stop_reason = e.reason
        if not st.stop_reason:
            st.stop_reason = "max_epochs"
        self.save_checkpoints()
        self.callbacks.on_fit_end(st)
        return st

    def _keep_epoch_checkpoint(self, epoch: int, metrics: dict) -> None:
        """trainer.save_top_k / keep_every_n_epochs: this epoch's full checkpoint (it resumes and evaluates like
        last.pt) as checkpoints/epoch-NNNN.pt when it is among the k best or an N-th epoch; one that falls out of
        the k best is deleted unless an N-th epoch keeps it. checkpoints/top_k.json lists the k best, best first."""
        k, every = self.loop.save_top_k, self.loop.keep_every_n_epochs
        if (not k and not every) or self.ckpt_dir is None or (self.dist and self.dist.rank != 0):
            return
        st = self.state
        value = metrics.get(self.loop.monitor)
        periodic = bool(every) and epoch % every == 0
        entered = False
        if k and value is not None and math.isfinite(value):
            ranked = sorted([*st.top_k, {"epoch": epoch, "value": float(value)}],
                            key=lambda e: -e["value"] if self.loop.mode == "max" else e["value"])
            entered = any(e["epoch"] == epoch for e in ranked[:k])
            dropped = ranked[k:]
            st.top_k = [{**e, "file": f"epoch-{e['epoch']:04d}.pt"} for e in ranked[:k]]
        else:
            dropped = []
        if entered or periodic:
            t0 = time.perf_counter()
            atomic_save(self.checkpoint_dict(), self.ckpt_dir / f"epoch-{epoch:04d}.pt")
            st.checkpoint_time_s += time.perf_counter() - t0
        for e in dropped:
            if e["epoch"] != epoch and not (every and e["epoch"] % every == 0):
                (self.ckpt_dir / f"epoch-{e['epoch']:04d}.pt").unlink(missing_ok=True)
        if k:
            from nnml.files import atomic_write_text

            index = {"monitor": self.loop.monitor, "mode": self.loop.mode, "k": k, "top_k": st.top_k}
            atomic_write_text(self.ckpt_dir / "top_k.json", json.dumps(index, indent=2) + "\n")

    def _after_epoch(self, epoch: int, metrics: dict) -> None:
        st = self.state
        monitor = self.loop.monitor
        value = metrics.get(monitor)
        for slot in self.task.slots.values():
            if slot.scheduler is not None and slot.interval == "epoch":
                if isinstance(slot.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    if value is not None:
                        slot.scheduler.step(value)
                else:
                    slot.scheduler.step()
        if value is None:
            return
        if not math.isfinite(value):
            st.stop_reason = f"{monitor} is {value}"
            return
        if self._is_better(value):
            st.best_metric, st.best_epoch, st.bad_epochs = value, epoch, 0
            self._keep_best(epoch)
        else:
            st.bad_epochs += 1
            patience = self.loop.patience
            if patience is not None and st.bad_epochs >= patience:
                st.stop_reason = f"early stopping: {monitor} did not improve for {patience} epochs"

    def load_best(self) -> None:
        """Put the best weights into the modules (for the final test); keeps the last ones if nothing was better."""
        if self.best_state is not None:
            for name, state in self.best_state["modules"].items():
                if name in self.task.modules:
                    self.task.modules[name].load_state_dict(state)
            if self.best_state.get("task"):
                self.task.load_state_dict(self.best_state["task"])


def load_task_modules(task, ckpt: dict, path) -> None:
    """Load every module of ``task`` from a checkpoint (either format), with a clear message when they differ."""
    modules = ckpt.get("modules") or {task.primary: ckpt["model"]}
    missing = [name for name in task.modules if name not in modules]
    if missing:
        raise NnmlError(f"checkpoint {path} has no weights for {', '.join(missing)} (it holds "
                        f"{', '.join(sorted(modules)) or 'none'}); it was saved by another task or model")
    for name, module in task.modules.items():
        load_model_weights(module, {"model": modules[name]}, path)
