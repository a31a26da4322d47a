"""The training loop: fit with validation, early stopping, best-state tracking, checkpoints and interrupts.

The hot path does one forward/backward/step per batch and accumulates the loss and metrics on the device; it reads
them on the host only every ``log_every_n_steps`` steps and at the end of an epoch. Everything else (console,
TensorBoard, files, tuners) hangs off :class:`~nnml.engine.callbacks.Callback` methods.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nnml import __version__
from nnml.engine.callbacks import Callback, CallbackList, StopTraining
from nnml.engine.checkpoint import atomic_save, load_model_weights, rng_state, set_rng_state
from nnml.engine.metrics import MetricState
from nnml.errors import NnmlError


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
    info: dict = field(default_factory=dict)  # run facts for callbacks: run_dir, device, sizes, params, ...

    def counters(self) -> dict:
        return {k: getattr(self, k) for k in ("epoch", "step_in_epoch", "global_step", "best_metric", "best_epoch",
                                              "bad_epochs", "train_time_s", "train_samples", "eval_time_s",
                                              "checkpoint_time_s", "last_metrics")}


class _SignalGuard:
    """First SIGINT/SIGTERM sets a flag the loop checks after each step; a second SIGINT stops at once."""

    def __init__(self):
        self.signum = 0
        self._old = {}

    def _handle(self, signum, frame):
        if self.signum and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

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


class Trainer:
    def __init__(self, model, criterion, optimizer, scheduler, train_batches, val_batches, *, task: str,
                 num_outputs: int, device, precision_ctx, scaler=None, max_epochs: int, sched_interval: str = "epoch",
                 grad_clip: float | None = None, log_every_n_steps: int = 50, val_every_n_epochs: int = 1,
                 monitor: str = "val/loss", mode: str = "min", patience: int | None = None,
                 checkpoint_dir: Path | None = None, checkpoint_every_n_epochs: int = 0,
                 checkpoint_every_s: float = 60.0, callbacks: list[Callback] = (), config: dict | None = None,
                 seed: int = 0, compiled_model=None, dist=None, eval_model=None):
        self.model = model  # the bare module: its state_dict is what checkpoints hold
        self.forward_model = compiled_model or model  # what runs the batches (compiled, DDP-wrapped)
        self.eval_model = eval_model or self.forward_model  # what evaluates (never DDP: no collectives there)
        self.criterion = criterion
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.sched_interval = sched_interval
        self.train_batches = train_batches
        self.val_batches = val_batches
        self.task = task
        self.num_outputs = num_outputs
        self.device = device
        self.autocast = precision_ctx
        self.scaler = scaler
        self.grad_clip = grad_clip
        self.log_every = max(1, int(log_every_n_steps))
        self.val_every = max(1, int(val_every_n_epochs))
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.ckpt_every_n = int(checkpoint_every_n_epochs or 0)
        self.ckpt_every_s = float(checkpoint_every_s or 0)
        self.callbacks = CallbackList(callbacks)
        self.config = config or {}
        self.seed = seed
        self.dist = dist  # nnml.engine.distributed.Dist or None
        world = dist.world_size if dist else 1
        self.state = LoopState(max_epochs=max_epochs, steps_per_epoch=train_batches.batches_per_epoch(world))
        self.best_state: dict | None = None
        self._train_metrics = MetricState(task, num_outputs, device)
        self._last_ckpt_time = time.monotonic()
        self._params = [p for p in model.parameters() if p.requires_grad]
        self._check_every_step = device.type == "cpu"  # a finiteness check is a host sync on CUDA

    # ----------------------------------------------------------------- evaluation
    @torch.inference_mode()
    def evaluate(self, batches) -> dict[str, float]:
        was_training = self.eval_model.training
        self.eval_model.eval()
        ms = MetricState(self.task, self.num_outputs, self.device)
        shard = (self.dist.rank, self.dist.world_size) if self.dist else (0, 1)
        for xb, yb in batches.epoch(0, shard=shard):
            with self.autocast():
                out = self.eval_model(xb)
                loss = self.criterion(out.float(), yb)
            ms.update(out.float(), yb, loss)
        if self.dist:
            self.dist.reduce_metric_state(ms)
        self.eval_model.train(was_training)
        return ms.compute()

    # ----------------------------------------------------------------- checkpoints
    def checkpoint_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "loop": self.state.counters(),
            "train_metrics": self._train_metrics.state(),
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
            best = {k: v for k, v in self.best_state.items() if k != "_dirty"}
            atomic_save({"model": best["model"], "loop": best["loop"], "config": self.config,
                         "nnml_version": __version__}, self.ckpt_dir / "best.pt")
            self.best_state["_dirty"] = False
        path = self.ckpt_dir / "last.pt"
        atomic_save(self.checkpoint_dict(), path)
        self.state.checkpoint_time_s += time.perf_counter() - t0
        self._last_ckpt_time = time.monotonic()
        self.callbacks.on_checkpoint(self.state, path)
        return path

    def restore(self, ckpt: dict, best: dict | None, path) -> None:
        """Continue from a checkpoint written by :meth:`checkpoint_dict`."""
        load_model_weights(self.model, ckpt, path)
        try:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        except (ValueError, KeyError) as e:
            raise NnmlError(f"checkpoint {path}: optimizer state does not fit the configured optimizer ({e})") from None
        if self.scheduler is not None and ckpt.get("scheduler"):
            self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        for k, v in ckpt["loop"].items():
            setattr(self.state, k, v)
        for k, v in ckpt.get("train_metrics", {}).items():
            setattr(self._train_metrics, k, v.to(self.device))
        if best is not None:
            self.best_state = {"model": best["model"], "loop": best["loop"], "_dirty": False}
        set_rng_state(ckpt["rng"])

    def _is_better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        best = self.state.best_metric
        return best is None or (value > best if self.mode == "max" else value < best)

    def _keep_best(self, epoch: int) -> None:
        self.best_state = {
            "model": {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()},
            "loop": {"epoch": epoch, "best_metric": self.state.best_metric},
            "_dirty": True,
        }

    # ----------------------------------------------------------------- training
    def _step(self, xb, yb):
        with self.autocast():
            out = self.forward_model(xb)
            loss = self.criterion(out.float(), yb)
        self.optimizer.zero_grad(set_to_none=True)
        grad_norm = None
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.grad_clip:
                self.scaler.unscale_(self.optimizer)
                grad_norm = torch.nn.utils.clip_grad_norm_(self._params, self.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            if self.grad_clip:
                grad_norm = torch.nn.utils.clip_grad_norm_(self._params, self.grad_clip)
            self.optimizer.step()
        if self.scheduler is not None and self.sched_interval == "step":
            self.scheduler.step()
        return out, loss, grad_norm

    def _grad_norm(self) -> float:
        grads = [p.grad for p in self._params if p.grad is not None]
        return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))) if grads else 0.0

    def _nonfinite(self, where: str, what: str = "loss became non-finite") -> NonFiniteLoss:
        lr = self.optimizer.param_groups[0]["lr"]
        last = self.ckpt_dir / "last.pt" if self.ckpt_dir else None
        kept = (f"the last good checkpoint {last} is kept" if last is not None and last.is_file()
                else "no checkpoint was written before it")
        return NonFiniteLoss(
            f"{what} at {where} (epoch {self.state.epoch + 1}, lr {lr:g}); {kept}. Try a smaller learning rate "
            f"(e.g. optimizer.lr={lr / 10:g}), trainer.grad_clip=1.0, or trainer.detect_anomaly=true to find the "
            f"operation")

    def _train_epoch(self, guard: _SignalGuard) -> None:
        st = self.state
        epoch = st.epoch
        if st.step_in_epoch == 0:
            self._train_metrics.reset()
        shard = (self.dist.rank, self.dist.world_size) if self.dist else (0, 1)
        self.forward_model.train()
        t0 = time.perf_counter()
        samples = 0
        for xb, yb in self.train_batches.epoch(epoch, start_batch=st.step_in_epoch, shard=shard):
            if st.global_step == 0 and st.compile_time_s == 0 and self.forward_model is not self.model:
                tc = time.perf_counter()
                out, loss, grad_norm = self._step(xb, yb)
                float(loss.detach())  # the first compiled step compiles; time it apart from throughput
                st.compile_time_s = time.perf_counter() - tc
                t0 += st.compile_time_s
                samples -= yb.shape[0]  # ... and its samples apart too
            else:
                try:
                    out, loss, grad_norm = self._step(xb, yb)
                except RuntimeError as e:  # trainer.detect_anomaly=true names the backward op that made a NaN
                    if "returned nan values" not in str(e):
                        raise
                    raise self._nonfinite(f"step {st.global_step + 1}", str(e).splitlines()[0].rstrip(".")) from None
            self._train_metrics.update(out.detach().float(), yb, loss.detach())
            samples += yb.shape[0]
            st.global_step += 1
            st.step_in_epoch += 1
            if self._check_every_step and not math.isfinite(loss.item()):  # .item() is ~0.2 us on the CPU
                raise self._nonfinite(f"step {st.global_step}")
            if st.global_step % self.log_every == 0:
                loss_value = float(loss.detach())
                if not math.isfinite(loss_value):
                    raise self._nonfinite(f"step {st.global_step} or shortly before")
                gn = float(grad_norm) if grad_norm is not None else self._grad_norm()
                self.callbacks.on_train_log(st, {"train/loss": loss_value, "grad_norm": gn,
                                                 "lr": self.optimizer.param_groups[0]["lr"]})
            if guard.signum:
                st.train_time_s += time.perf_counter() - t0
                st.train_samples += samples
                raise Interrupted(guard.signum, None)
        if self.dist:
            self.dist.reduce_metric_state(self._train_metrics)
        train = self._train_metrics.compute()  # host sync: the epoch's steps are done
        st.train_time_s += time.perf_counter() - t0
        st.train_samples += samples * (self.dist.world_size if self.dist else 1)
        if not math.isfinite(train["loss"]):
            raise self._nonfinite(f"epoch {epoch + 1}")
        st.last_metrics = {f"train/{k}": v for k, v in train.items()}

    def fit(self) -> LoopState:
        st = self.state
        if st.epoch >= st.max_epochs and st.step_in_epoch == 0:
            # A resumed run that already has its epochs: nothing to train; the caller still tests the best weights.
            st.stop_reason = (f"already trained {st.epoch} epochs (trainer.max_epochs={st.max_epochs}); "
                              f"extend it with trainer.max_epochs=N")
        self.callbacks.on_fit_start(st)
        guard = _SignalGuard()
        try:
            with guard:
                while st.epoch < st.max_epochs:
                    self._train_epoch(guard)
                    metrics = dict(st.last_metrics)
                    epoch = st.epoch + 1
                    if epoch % self.val_every == 0 or epoch == st.max_epochs:
                        t0 = time.perf_counter()
                        metrics.update({f"val/{k}": v for k, v in self.evaluate(self.val_batches).items()})
                        st.eval_time_s += time.perf_counter() - t0
                    metrics["lr"] = self.optimizer.param_groups[0]["lr"]
                    st.epoch, st.step_in_epoch = epoch, 0
                    self._after_epoch(epoch, metrics)
                    st.last_metrics = metrics
                    self.callbacks.on_epoch_end(st, metrics)
                    if st.stop_reason:
                        break
                    if guard.signum:
                        raise Interrupted(guard.signum, None)
                    due = (self.ckpt_every_n and epoch % self.ckpt_every_n == 0) or (
                        self.ckpt_every_s and time.monotonic() - self._last_ckpt_time >= self.ckpt_every_s)
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

    def _after_epoch(self, epoch: int, metrics: dict) -> None:
        st = self.state
        value = metrics.get(self.monitor)
        if self.scheduler is not None and self.sched_interval == "epoch":
            if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                if value is not None:
                    self.scheduler.step(value)
            else:
                self.scheduler.step()
        if value is None:
            return
        if not math.isfinite(value):
            st.stop_reason = f"{self.monitor} is {value}"
            return
        if self._is_better(value):
            st.best_metric, st.best_epoch, st.bad_epochs = value, epoch, 0
            self._keep_best(epoch)
        else:
            st.bad_epochs += 1
            if self.patience is not None and st.bad_epochs >= self.patience:
                st.stop_reason = f"early stopping: {self.monitor} did not improve for {self.patience} epochs"

    def load_best(self) -> None:
        """Put the best weights into the model (for the final test); keeps the last ones if nothing was better."""
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state["model"])
