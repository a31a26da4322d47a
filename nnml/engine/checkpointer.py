"""Everything a run keeps on disk and in memory about its weights: the best state (by the monitored metric, for the
final test and early stopping), ``best.pt`` and ``last.pt`` written atomically, the top-k and every-N-th epoch
checkpoints, and restoring all of it for an exact resume. The loop (:mod:`nnml.engine.loop`) calls it; only the
writing rank (rank 0 under DDP) writes.

A checkpoint (format 2) holds ``modules``, ``slots`` (optimizer, scheduler, scaler per slot) and ``task`` besides the
loop counters, the RNG states and the config; the primary module and slot are also under the old names (``model``,
``optimizer``, ``scheduler``, ``scaler``), and checkpoints written before tasks load as a single ``model`` module.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from nnml.engine.checkpoint import atomic_save, load_model_weights, rng_state, set_rng_state
from nnml.engine.state import LoopConfig, LoopState
from nnml.errors import NnmlError
from nnml.version import __version__


class Checkpointer:
    def __init__(self, task, loop: LoopConfig, folder: Path | None, config: dict, writes: bool = True):
        self.task, self.loop, self.config = task, loop, config
        self.folder = Path(folder) if folder else None
        self.writes = writes and self.folder is not None  # rank 0 only under DDP
        self.best: dict | None = None  # the best epoch's weights (on the CPU), task state and counters
        self._last_save = time.monotonic()

    # ------------------------------------------------------------------ the best epoch
    def after_epoch(self, state: LoopState, epoch: int, metrics: dict) -> None:
        """The monitored metric of ``epoch``: a new best is kept (weights on the CPU); no improvement for
        ``patience`` epochs, or a non-finite value, sets the state's stop reason."""
        monitor = self.loop.monitor
        value = metrics.get(monitor)
        if value is None:
            return
        if not math.isfinite(value):
            state.stop_reason = f"{monitor} is {value}"
        elif self.is_better(value, state.best_metric):
            state.best_metric, state.best_epoch, state.bad_epochs = value, epoch, 0
            self.keep_best(epoch, value)
        else:
            state.bad_epochs += 1
            if self.loop.patience is not None and state.bad_epochs >= self.loop.patience:
                state.stop_reason = f"early stopping: {monitor} did not improve for {self.loop.patience} epochs"

    def is_better(self, value: float, best: float | None) -> bool:
        if not math.isfinite(value):
            return False
        return best is None or (value > best if self.loop.mode == "max" else value < best)

    def keep_best(self, epoch: int, best_metric: float) -> None:
        self.best = {
            "modules": {name: {k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()}
                        for name, m in self.task.modules.items()},
            "task": self.task.state_dict(),
            "loop": {"epoch": epoch, "best_metric": best_metric},
            "_dirty": True,
        }

    def load_best(self) -> None:
        """Put the best weights into the modules (for the final test); keeps the last ones if nothing was better."""
        if self.best is not None:
            for name, state in self.best["modules"].items():
                if name in self.task.modules:
                    self.task.modules[name].load_state_dict(state)
            if self.best.get("task"):
                self.task.load_state_dict(self.best["task"])

    # ------------------------------------------------------------------ writing
    def snapshot(self, state: LoopState, segments: list, train_metrics) -> dict:
        """The whole run as a checkpoint: what a resume needs to continue bit-exactly."""
        task = self.task
        modules = {name: m.state_dict() for name, m in task.modules.items()}
        slots = {name: slot.state_dict() for name, slot in task.slots.items()}
        main = slots.get(task.primary) or next(iter(slots.values()), {})
        return {
            "format": 2, "modules": modules, "slots": slots,
            # the primary module and slot again, under the names of the format before tasks (tools that read one
            # model and optimizer; torch.save stores shared tensors once)
            "model": modules.get(task.primary, {}), "optimizer": main.get("optimizer"),
            "scheduler": main.get("scheduler"), "scaler": main.get("scaler"),
            "task": task.state_dict(),
            "loop": {**state.counters(), "segments": segments},
            "train_metrics": train_metrics.state() if train_metrics is not None else {},
            "rng": rng_state(), "config": self.config, "nnml_version": __version__,
        }

    def save(self, state: LoopState, snapshot) -> Path | None:
        """Write best.pt (if the best changed) then last.pt (``snapshot()`` builds it); None when not writing."""
        if not self.writes:
            return None
        t0 = time.perf_counter()
        if self.best is not None and self.best.get("_dirty"):
            best = self.best
            atomic_save({"format": 2, "modules": best["modules"],
                         "model": best["modules"].get(self.task.primary, {}), "task": best.get("task", {}),
                         "loop": best["loop"], "config": self.config, "nnml_version": __version__},
                        self.folder / "best.pt")
            best["_dirty"] = False
        path = self.folder / "last.pt"
        atomic_save(snapshot(), path)
        state.checkpoint_time_s += time.perf_counter() - t0
        self._last_save = time.monotonic()
        return path

    def due(self, epoch: int, max_epochs: int) -> bool:
        """Whether last.pt should be written after this epoch (every N epochs or seconds; the end writes anyway)."""
        loop = self.loop
        due = (loop.checkpoint_every_n_epochs and epoch % loop.checkpoint_every_n_epochs == 0) or (
            loop.checkpoint_every_s and time.monotonic() - self._last_save >= loop.checkpoint_every_s)
        return bool(due) and epoch < max_epochs

    def keep_epoch(self, state: LoopState, epoch: int, metrics: dict, snapshot) -> None:
        """trainer.save_top_k / keep_every_n_epochs: this epoch's full checkpoint (it resumes and evaluates like
        last.pt) as checkpoints/epoch-NNNN.pt when it is among the k best or an N-th epoch; one that falls out of
        the k best is deleted unless an N-th epoch keeps it. checkpoints/top_k.json lists the k best, best first."""
        k, every = self.loop.save_top_k, self.loop.keep_every_n_epochs
        if (not k and not every) or not self.writes:
            return
        value = metrics.get(self.loop.monitor)
        periodic = bool(every) and epoch % every == 0
        entered, dropped = False, []
        if k and value is not None and math.isfinite(value):
            ranked = sorted([*state.top_k, {"epoch": epoch, "value": float(value)}],
                            key=lambda e: -e["value"] if self.loop.mode == "max" else e["value"])
            entered = any(e["epoch"] == epoch for e in ranked[:k])
            dropped = ranked[k:]
            state.top_k = [{**e, "file": f"epoch-{e['epoch']:04d}.pt"} for e in ranked[:k]]
        if entered or periodic:
            t0 = time.perf_counter()
            atomic_save(snapshot(), self.folder / f"epoch-{epoch:04d}.pt")
            state.checkpoint_time_s += time.perf_counter() - t0
        for e in dropped:
            if e["epoch"] != epoch and not (every and e["epoch"] % every == 0):
                (self.folder / f"epoch-{e['epoch']:04d}.pt").unlink(missing_ok=True)
        if k:
            from nnml.files import atomic_write_text

            index = {"monitor": self.loop.monitor, "mode": self.loop.mode, "k": k, "top_k": state.top_k}
            atomic_write_text(self.folder / "top_k.json", json.dumps(index, indent=2) + "\n")

    # ------------------------------------------------------------------ reading
    def restore(self, state: LoopState, ckpt: dict, best: dict | None, path) -> dict:
        """Continue from a checkpoint written by :meth:`snapshot` (or by nnml before tasks existed): modules, slots,
        task state, counters, best state and RNG states. Returns the saved training-metric sums (or {})."""
        task = self.task
        load_task_modules(task, ckpt, path)
        slots = ckpt.get("slots")
        if slots is None:  # the format before tasks: one model, one optimizer
            slots = {task.primary: {"optimizer": ckpt.get("optimizer"), "scheduler": ckpt.get("scheduler"),
                                    "scaler": ckpt.get("scaler")}}
        for name, slot in task.slots.items():
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
        task.load_state_dict(ckpt.get("task") or {})
        for k, v in ckpt["loop"].items():
            setattr(state, k, v)
        if best is not None:
            self.best = {"modules": best.get("modules") or {task.primary: best["model"]},
                         "task": best.get("task", {}), "loop": best["loop"], "_dirty": False}
        set_rng_state(ckpt["rng"])
        return ckpt.get("train_metrics") or {}


def load_task_modules(task, ckpt: dict, path) -> None:
    """Load every module of ``task`` from a checkpoint (either format), with a clear message when they differ."""
    modules = ckpt.get("modules") or {task.primary: ckpt["model"]}
    missing = [name for name in task.modules if name not in modules]
    if missing:
        raise NnmlError(f"checkpoint {path} has no weights for {', '.join(missing)} (it holds "
                        f"{', '.join(sorted(modules)) or 'none'}); it was saved by another task or model")
    for name, module in task.modules.items():
        load_model_weights(module, {"model": modules[name]}, path)

