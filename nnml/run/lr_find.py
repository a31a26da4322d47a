"""The learning-rate range test (Smith, "Cyclical Learning Rates for Training Neural Networks", 2015; the form
fastai's ``lr_find`` made popular): train with a learning rate that grows exponentially from ``start_lr`` to
``end_lr`` over ``num_steps`` steps, record the loss, and read a good learning rate off the curve.

The steps are the task's own (``task.training_step`` and its optimizer slots, built from the config as ``nnml
train`` builds them), so any task trained by gradient and any optimizer work; every slot's learning rate follows the
range (parameter groups keep their ratios), its scheduler is held still. The loss is smoothed by an exponential
moving average with bias correction (beta 0.98); the test stops when the smoothed loss passes ``diverge`` (4) times
its lowest value, or turns non-finite. Afterwards the modules, the optimizers (their state and learning rates), the
schedulers, the task's own state and the random generators are put back as they were.

Two rules read the curve, on the points left after dropping the first tenth (the loss barely moves there) and the
last five (where it blows up), as fastai does:

- ``valley`` (the default): the longest stretch of consecutive points over which the smoothed loss keeps falling,
  and the learning rate halfway into it (at 1/3 + 1/6 of its length from its start): far enough down the slope to
  learn fast, far from its end, where the loss turns up. fastai takes the longest decreasing *subsequence* instead,
  which on a long flat start (Adam from 1e-7: three decades where nothing moves) gathers the plateau's noise into
  the valley: on digits with Adam it suggested 1.2e-4, at the flat end, where the consecutive stretch gives 6.3e-4,
  down the real slope;
- ``steep``: where the smoothed loss falls fastest against log(lr) (the most negative slope between two points).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch

from nnml.errors import NnmlError

METHODS = ("valley", "steep")


@dataclass
class RangeTest:
    lrs: list[float]
    losses: list[float]  # each step's loss
    smoothed: list[float]  # the bias-corrected moving average
    stop_reason: str
    method: str = "valley"
    suggestion: float | None = None
    suggestions: dict = field(default_factory=dict)  # method -> (lr, smoothed loss there)
    valley: tuple[float, float] | None = None  # (first lr, last lr) of the longest descent

    def as_dict(self) -> dict:
        return {"suggestion": self.suggestion, "method": self.method,
                "suggestions": {k: {"lr": v[0], "loss": v[1]} for k, v in self.suggestions.items()},
                "valley": list(self.valley) if self.valley else None, "stop_reason": self.stop_reason,
                "steps": len(self.lrs), "lrs": self.lrs, "losses": self.losses, "smoothed": self.smoothed}


def lr_at(step: int, num_steps: int, start_lr: float, end_lr: float) -> float:
    """The learning rate of ``step`` (0 .. num_steps-1): exponential from ``start_lr`` to ``end_lr``."""
    return start_lr * (end_lr / start_lr) ** (step / max(1, num_steps - 1))


def smooth(losses: list[float], beta: float = 0.98) -> list[float]:
    """Exponential moving average with bias correction: avg_t / (1 - beta^t)."""
    out, avg = [], 0.0
    for t, loss in enumerate(losses, start=1):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** t))
    return out


def longest_descent(losses: list[float]) -> tuple[int, int]:
    """(first, last) index of the longest stretch of consecutive points over which ``losses`` keeps falling (the
    first such stretch when several are as long)."""
    best, start = (0, 0), 0
    for i in range(1, len(losses)):
        if not losses[i] < losses[i - 1]:
            start = i
        elif i - start > best[1] - best[0]:
            best = (start, i)
    return best


def valley(lrs: list[float], losses: list[float]) -> tuple[int, tuple[int, int]]:
    """(index of the suggestion, (first, last) of the valley): halfway into the longest descent."""
    first, last = longest_descent(losses)
    third = (last - first) / 3
    return first + int(third) + int(third / 2), (first, last)


def steep(lrs: list[float], losses: list[float]) -> int:
    """Index of the point where the loss falls fastest against log(lr)."""
    slopes = [(losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i])) for i in range(len(lrs) - 1)]
    return min(range(len(slopes)), key=slopes.__getitem__)


def suggest(lrs: list[float], smoothed: list[float], method: str = "valley") -> RangeTest:
    """The suggestions of both rules on the trimmed curve; ``method`` picks the one that is *the* suggestion."""
    if method not in METHODS:
        raise NnmlError(f"--method {method} is not valid; choose one of: {', '.join(METHODS)}")
    n = len(lrs)
    lo, hi = n // 10, n - 5
    finite = [i for i in range(lo, hi) if math.isfinite(smoothed[i])]
    if len(finite) < 10:
        raise NnmlError(f"the range test stopped after {n} steps, too few to read a learning rate off (10 points "
                        f"are left after the first tenth and the last 5: it needs about 20 steps before the loss "
                        f"blows up); start lower (--start-lr) or take more steps (--steps)")
    xs, ys = [lrs[i] for i in finite], [smoothed[i] for i in finite]
    out = RangeTest(lrs, [], smoothed, "", method)
    v, (a, b) = valley(xs, ys)
    s = steep(xs, ys)
    out.suggestions = {"valley": (xs[v], ys[v]), "steep": (xs[s], ys[s])}
    out.valley = (xs[a], xs[b])
    out.suggestion = out.suggestions[method][0]
    return out


# ---------------------------------------------------------------------------------------------- the test itself
class _Saved:
    """Everything the test changes, to put back afterwards."""

    def __init__(self, task):
        from nnml.engine.checkpoint import rng_state

        self.modules = {n: copy.deepcopy(m.state_dict()) for n, m in task.modules.items()}
        self.slots = {n: (copy.deepcopy(s.optimizer.state_dict()), s.scheduler,
                          copy.deepcopy(s.scheduler.state_dict()) if s.scheduler is not None else None,
                          copy.deepcopy(s.scaler.state_dict()) if s.scaler is not None else None)
                      for n, s in task.slots.items()}
        self.task = copy.deepcopy(task.state_dict())
        self.rng = rng_state()

    def restore(self, task) -> None:
        from nnml.engine.checkpoint import set_rng_state

        for name, state in self.modules.items():
            task.modules[name].load_state_dict(state)
        for name, (opt, sched, sched_state, scaler) in self.slots.items():
            slot = task.slots[name]
            slot.optimizer.load_state_dict(opt)
            slot.optimizer.zero_grad(set_to_none=True)
            slot.scheduler = sched
            if sched is not None:
                sched.load_state_dict(sched_state)
            if scaler is not None:
                slot.scaler.load_state_dict(scaler)
        task.load_state_dict(self.task)
        set_rng_state(self.rng)


def range_test(task, batches, *, device, autocast=None, start_lr: float = 1e-7, end_lr: float = 10.0,
               num_steps: int = 100, beta: float = 0.98, diverge: float = 4.0, method: str = "valley") -> RangeTest:
    """Run the range test on a built task (``task.setup`` done) over ``batches`` (its training batch source)."""
    from nnml.engine.loop import LoopConfig, Trainer

    if not task.slots:
        raise NnmlError(f"{type(task).__name__} has no optimizer (a closed-form model): there is no learning rate "
                        f"to find")
    if not 0 < start_lr < end_lr or num_steps < 20:
        raise NnmlError(f"the range test needs 0 < start lr < end lr and at least 20 steps; got {start_lr:g}, "
                        f"{end_lr:g}, {num_steps}")
    trainer = Trainer(task, batches, {}, LoopConfig(max_epochs=1, layer_stats=False), device=device,
                      autocast=autocast)
    saved = _Saved(task)
    groups = [(g, g["lr"] / s.optimizer.param_groups[0]["lr"]) for s in task.slots.values()
              for g in s.optimizer.param_groups]
    for slot in task.slots.values():
        slot.scheduler = None  # the range sets the learning rate; a scheduler would fight it
    metrics = task.train_metrics()
    modes = {name: m.training for name, m in task.modules.items()}
    for m in task.modules.values():
        m.train()
    trainer.in_train_step = True
    lrs, losses, stop = [], [], f"reached the end of the range ({end_lr:g})"
    best, avg = math.inf, 0.0
    try:
        for step, batch in enumerate(_endless(batches, num_steps)):
            lr = lr_at(step, num_steps, start_lr, end_lr)
            for group, ratio in groups:
                group["lr"] = lr * ratio
            loss = _train_step(task, trainer, batch, metrics)
            lrs.append(lr)
            losses.append(loss)
            avg = beta * avg + (1 - beta) * loss
            smoothed = avg / (1 - beta ** (step + 1))
            if not math.isfinite(smoothed):
                stop = f"the loss became non-finite at lr {lr:.2g}"
                break
            best = min(best, smoothed)
            if smoothed > diverge * best:
                stop = f"the smoothed loss passed {diverge:g} times its lowest at lr {lr:.2g}"
                break
    finally:
        trainer.in_train_step = False
        saved.restore(task)
        for name, m in task.modules.items():
            m.train(modes[name])
    result = suggest(lrs, smooth(losses, beta), method)
    result.losses, result.stop_reason = losses, stop
    return result


def _endless(batches, n: int):
    """``n`` training batches, epoch after epoch."""
    epoch, given = 0, 0
    while given < n:
        empty = True
        for batch in batches.epoch(epoch):
            empty = False
            yield batch
            given += 1
            if given >= n:
                return
        if empty:
            raise NnmlError("the training split has no batches")
        epoch += 1


def _train_step(task, trainer, batch, metrics) -> float:
    """One step of the task as the loop takes it; the loss as a float."""
    ctx = trainer.ctx
    out = task.training_step(batch, ctx, metrics)
    if task.automatic_optimization:
        next(iter(task.slots.values())).step(out)
        return float(out.detach())
    loss = out.get("loss", next(iter(out.values()))) if isinstance(out, dict) else out
    return float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)


def build_for_range_test(cfg, trust):
    """(task, train batches, device, autocast) of a composed train config, built as ``nnml train`` builds them."""
    from nnml.config.seeds import data_seed
    from nnml.config.validate import validate
    from nnml.engine.device import autocast_context, configure_threads, resolve_device
    from nnml.run.build import Builder, build_data, build_task, resolve_monitor
    from nnml.run.train import seed_everything

    validate(cfg)
    trust.check(cfg)
    tr = cfg.trainer
    configure_threads(tr.get("num_threads"))
    device = resolve_device(tr.device)
    seed_everything(int(cfg.seed))
    data = build_data(cfg.dataset, seed=data_seed(cfg), trust=trust)
    task = build_task(cfg, data, trust)
    _, mode = resolve_monitor(tr, task)
    builder = Builder(cfg, data, device, seed=int(cfg.seed), trust=trust, monitor_mode=mode)
    batches = task.batches("train", builder)
    builder.steps_per_epoch = batches.batches_per_epoch(1)
    torch.manual_seed(int(cfg.seed))
    task.setup(builder)
    return task, batches, device, autocast_context(device, str(tr.precision))


def figure(result: RangeTest, title: str = ""):
    """The curve (each step's loss faint, the smoothed loss bold) against lr on a log axis, the valley shaded and
    the suggestions marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    n = len(result.lrs)
    ax.plot(result.lrs, result.losses, color="0.75", lw=0.8, label="loss of each step")
    ax.plot(result.lrs, result.smoothed, color="C0", lw=2, label="smoothed loss")
    if result.valley:
        ax.axvspan(*result.valley, color="C2", alpha=0.12, label="longest descent (valley)")
    markers = {"valley": ("C3", "o"), "steep": ("C1", "s")}
    for name, (lr, loss) in result.suggestions.items():
        color, marker = markers[name]
        chosen = " (suggested)" if name == result.method else ""
        ax.plot([lr], [loss], marker=marker, color=color, ms=9, ls="none", label=f"{name}: lr {lr:.2g}{chosen}")
    if result.suggestion:
        ax.axvline(result.suggestion, color="C3", ls="--", lw=1)
    lows = [v for v in result.smoothed[n // 10:] if math.isfinite(v)]
    if lows:
        lo, hi = min(lows), max(result.smoothed[: max(1, n // 10) + 1] + [min(lows)])
        ax.set_ylim(lo - 0.1 * (hi - lo + 1e-12), hi + 0.5 * (hi - lo + 1e-12))
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title(title or "learning-rate range test")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig
