"""What the loop knows about a run (:class:`LoopState`: counters, best metric, timings, the segments a resumed run
has behind it), the trainer keys it reads (:class:`LoopConfig`) and the record of this process's stretch of training
(:class:`Segment`). Callbacks read the state; checkpoints save its counters."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


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
    accumulate_grad_batches: int = 1  # batches whose gradients add up to one optimizer step
    layer_stats: bool = True  # per-layer gradient norms and activation statistics at logging steps
    train_metrics: bool = True  # False: a training epoch's accumulator keeps its losses alone (Trainer.new_train_metrics)

    @classmethod
    def from_trainer(cls, tr, monitor: str, mode: str) -> LoopConfig:
        """From the composed ``trainer`` node; monitor and mode as the run resolved them."""
        return cls(max_epochs=int(tr.max_epochs), log_every_n_steps=int(tr.get("log_every_n_steps", 50)),
                   val_every_n_epochs=int(tr.get("val_every_n_epochs", 1)), monitor=monitor, mode=mode,
                   patience=tr.get("patience"), checkpoint_every_n_epochs=int(tr.get("checkpoint_every_n_epochs", 0)),
                   checkpoint_every_s=float(tr.get("checkpoint_every_s", 60)),
                   save_top_k=int(tr.get("save_top_k", 0) or 0),
                   keep_every_n_epochs=int(tr.get("keep_every_n_epochs", 0) or 0),
                   accumulate_grad_batches=int(tr.get("accumulate_grad_batches", 1) or 1),
                   layer_stats=bool(tr.get("layer_stats", True)), train_metrics=bool(tr.get("train_metrics", True)))


class Segment:
    """This process's stretch of training (a start, or one resume): when it began, its overrides, and once the
    state is known, the epochs and time it adds. A resumed run's earlier segments come back with its checkpoint,
    so its totals add up across resumes."""

    def __init__(self, started: float, overrides=()):
        from datetime import datetime, timezone

        self.head = {"started_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "overrides": [str(o) for o in overrides]}
        self.t0 = started
        self.origin: tuple[int, float] | None = None  # (epoch, train time) where it began, read once restored

    def begin(self, state: LoopState) -> None:
        if self.origin is None:
            self.origin = (state.epoch, state.train_time_s)

    def record(self, state: LoopState, threads: int) -> dict:
        self.begin(state)
        from_epoch, train0 = self.origin
        return {**self.head, "from_epoch": from_epoch, "to_epoch": state.epoch,
                "wall_time_s": round(time.perf_counter() - self.t0, 3),
                "train_time_s": round(state.train_time_s - train0, 4), "stop_reason": state.stop_reason,
                "threads": threads}
