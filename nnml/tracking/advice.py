"""What a student must not miss: live warnings while a run trains (one line each, each at most once per run) and,
at the end, a run that did not learn saying so, in its last lines, in train.log and in metrics.json's ``warnings``.

Everything here reads what the loop already reports: the step scalars of ``on_train_log`` (the loss at step 1 is the
loss at init; per-layer gradient norms when ``trainer.layer_stats`` is on) and the epoch metrics of
``on_epoch_end``. The checks, and the thresholds they use (docs/recipe.md explains each):

- the loss at init of a classifier trained with cross-entropy is far from ln(C), the loss of a uniform guess over C
  classes: more than max(0.5, 0.3 ln C) away;
- the accuracy is still at chance level after ``chance_epochs`` epochs: train and val accuracy no more than 10% of
  the way from chance (the most frequent class's share of the training labels) to 1;
- the loss diverges (an epoch's training loss, or a logged step loss, above twice the loss at init) or oscillates
  (the epoch loss rose at least twice by more than 30% and by more than a tenth of the loss at init);
- a layer's gradients hold NaN or inf (not under fp16, whose GradScaler skips such steps by design);
- at the end (of a run of at least 10 steps): the last epoch's accuracy at chance level, or a loss that never fell
  (its lowest epoch value above 95% of the loss at init).

Each message says what to try, the learning rate first: ``nnml lr-find`` with the run's overrides, and a concrete
``optimizer.lr=`` (a tenth of the current one after divergence or at chance level, ten times it for a flat loss).
"""

from __future__ import annotations

import logging
import math

from nnml.engine.callbacks import Callback

log = logging.getLogger("nnml")

CE_LOSSES = ("cross_entropy", "nll", "auto")
CHANCE_MARGIN = 0.1  # "at chance": within this fraction of the way from chance to a perfect score
DIVERGE_FACTOR = 2.0
OSCILLATE_RISE = 1.3
FLAT_RATIO = 0.95
MIN_STEPS = 10  # fewer steps than this say nothing about whether a run learns


class Advisor(Callback):
    """Warnings for one run. ``kind``: classification, regression or the task's own kind; ``classes``: C;
    ``chance``: the accuracy of always guessing the most frequent class; ``loss_name``: the configured loss;
    ``lr_override(lr, factor)``: the override of ``lr * factor`` (``optimizer.lr=1e-4``, in the notation the user
    typed); ``lr_find``: the ``nnml lr-find ...`` command for this run; ``say(text)``: prints one
    line (the console's); ``fp16``: gradients are scaled, inf is expected."""

    def __init__(self, *, kind: str = "", classes: int = 0, chance: float | None = None, loss_name: str = "",
                 lr_override=None, lr_find: str = "", say=None, fp16: bool = False, chance_epochs: int = 3,
                 overfit_batches: int = 0):
        self.kind, self.classes, self.chance = kind, int(classes or 0), chance
        self.loss_name, self.lr_override, self.lr_find = loss_name, lr_override, lr_find
        self.say, self.fp16, self.chance_epochs = say, fp16, chance_epochs
        self.overfit_batches = overfit_batches
        self.warnings: list[str] = []
        self._said: set[str] = set()
        self.init_loss: float | None = None
        self.lr: float | None = None
        self.epoch_losses: list[float] = []
        self.max_step_loss = -math.inf
        self.diverged = False
        self.steps = 0

    # ------------------------------------------------------------------ live
    def warn(self, key: str, text: str, live: bool = True) -> None:
        """``text`` once per run (``key`` names the check); ``live``: printed now (the final ones are printed with
        the results)."""
        if key in self._said:
            return
        self._said.add(key)
        self.warnings.append(text)
        if live and self.say is not None:
            self.say(text)
        elif live:
            log.warning("warning: %s", text)

    def resume_from(self, rows: list[dict]) -> None:
        """A resumed run: the loss at init and the epoch losses of its earlier segments (its signals.jsonl rows)."""
        first = next((r for r in rows if r.get("kind") == "step" and r.get("step") == 1), None)
        if first is not None and isinstance(first.get("train/loss"), (int, float)):
            self.init_loss = first["train/loss"]
        self._earlier = [r["train/loss"] for r in rows if r.get("kind") == "epoch"
                         and isinstance(r.get("train/loss"), (int, float))]

    def on_fit_start(self, state) -> None:
        self._resumed = state.global_step > 0  # the loss at init is the first segment's
        if self._resumed:  # the epochs before this segment's start (rows past its checkpoint are not its own)
            self.epoch_losses = list(getattr(self, "_earlier", []))[: state.epoch]

    def on_train_log(self, state, scalars) -> None:
        loss, self.lr = scalars.get("train/loss"), scalars.get("lr", self.lr)
        if loss is not None and state.global_step == 1 and not self._resumed:
            self.init_loss = loss
            self._check_init(loss)
        if loss is not None:
            self.max_step_loss = max(self.max_step_loss, loss)
            self._check_divergence(state, loss, f"step {state.global_step}")
        if not self.fp16:
            bad = [k.split("/", 2)[2] for k, v in scalars.items()
                   if k.startswith("layers/grad_norm/") and not math.isfinite(v)]
            if bad:
                self.warn("nonfinite_grad", f"the gradients of layer {bad[0]} hold NaN or inf at step "
                          f"{state.global_step}{f' (and {len(bad) - 1} more layers)' if len(bad) > 1 else ''}, "
                          f"while the loss is still finite: {self._lower_lr()}, trainer.grad_clip=1.0, or "
                          f"trainer.detect_anomaly=true to find the operation")

    def on_epoch_end(self, state, metrics) -> None:
        self.lr, self.steps = metrics.get("lr", self.lr), state.global_step
        loss = metrics.get("train/loss")
        if loss is None or not math.isfinite(loss):
            return
        self.epoch_losses.append(loss)
        self._check_divergence(state, loss, f"epoch {state.epoch}")
        # rises that matter: by 30% and by a tenth of the loss at init (0.04 -> 0.055 late in a run is noise)
        floor = 0.1 * self.init_loss if self.init_loss is not None else 0.0
        rises = sum(b > OSCILLATE_RISE * a and b - a > floor for a, b in zip(self.epoch_losses, self.epoch_losses[1:]))
        if rises >= 2 and not self.diverged:
            self.warn("oscillates", f"the training loss oscillates: it rose by more than "
                      f"{OSCILLATE_RISE - 1:.0%} in {rises} of {len(self.epoch_losses) - 1} epochs (now "
                      f"{loss:.4g}): the learning rate is too high; {self._lower_lr()}")
        if state.epoch == self.chance_epochs and self._at_chance(metrics):
            self.warn("chance", f"accuracy still at chance level after {state.epoch} epochs "
                      f"({self._accuracies(metrics)}; chance {self.chance:.3f}: always the most frequent class). "
                      f"{self._lr_advice()}")

    def _check_init(self, loss: float) -> None:
        if self.kind != "classification" or self.classes < 2 or not any(n in self.loss_name for n in CE_LOSSES):
            return
        expected = math.log(self.classes)
        if abs(loss - expected) > max(0.5, 0.3 * expected):
            why = ("the output layer starts too confident: scale its initial weights down (model.init=...)"
                   if loss > expected else "a model that starts sure of the right class has seen the labels: "
                   "check that the inputs do not hold them")
            self.warn("init_loss", f"the loss at init is {loss:.3g}, far from ln({self.classes}) = {expected:.3g}, "
                      f"the loss of a classifier that spreads its belief evenly over {self.classes} classes; {why}, "
                      f"or check that the labels and the loss fit (docs/recipe.md, step 1)")

    def _check_divergence(self, state, loss: float, where: str) -> None:
        if self.init_loss is None or not math.isfinite(loss) or loss <= DIVERGE_FACTOR * max(self.init_loss, 1e-8):
            return
        self.diverged = True
        self.warn("diverges", f"the training loss diverges: {loss:.4g} at {where}, more than {DIVERGE_FACTOR:g} "
                  f"times its {self.init_loss:.4g} at init: the learning rate is too high; {self._lower_lr()}")

    # ------------------------------------------------------------------ the end
    def verdict(self, metrics: dict, last: dict, best_epoch: int | None = None) -> list[str]:
        """Every warning of the run, with the final ones added: ``metrics`` the final (best checkpoint) metrics,
        ``last`` the last epoch's. A run of fewer than ``MIN_STEPS`` steps (debug=fast) gets no verdict."""
        if self.steps < MIN_STEPS:
            pass
        elif self._at_chance(last):
            best = metrics.get(self._acc_key(metrics))
            before = (f"; its best epoch {best_epoch} reached {self._acc_key(metrics)} {best:.3f}, then lost it"
                      if best is not None and self.chance is not None and not self._near_chance(best) else "")
            self.warn("did_not_learn", f"this run did not learn: its last epoch ended at chance level "
                      f"({self._accuracies(last)}; chance {self.chance:.3f}){before}. {self._lr_advice()}", live=False)
        elif self.init_loss is not None and self.epoch_losses and min(self.epoch_losses) > FLAT_RATIO * self.init_loss:
            self.warn("did_not_learn", f"this run did not learn: its training loss never fell (from "
                      f"{self.init_loss:.4g} at init to {min(self.epoch_losses):.4g} at its lowest). "
                      f"{self._lr_advice()}", live=False)
        if self.overfit_batches:
            loss = last.get("train/loss")
            if loss is not None and not loss < 0.05:
                self.warn("overfit", f"debug=overfit: the training loss is still {loss:.4g} on "
                          f"{self.overfit_batches} batches seen every epoch; a model that cannot fit a few batches "
                          f"has a bug or an optimizer that does not move it (the data, the loss, the lr): "
                          f"{self._lr_advice()}", live=False)
        return list(self.warnings)

    # ------------------------------------------------------------------ helpers
    def _acc_key(self, metrics: dict) -> str:
        return "val/acc" if "val/acc" in metrics else "train/acc"

    def _near_chance(self, value: float) -> bool:
        return value <= self.chance + CHANCE_MARGIN * (1 - self.chance)

    def _at_chance(self, metrics: dict) -> bool:
        if self.kind != "classification" or self.chance is None:
            return False
        accs = [metrics[k] for k in ("train/acc", "val/acc") if isinstance(metrics.get(k), (int, float))]
        return bool(accs) and all(self._near_chance(a) for a in accs)

    def _accuracies(self, metrics: dict) -> str:
        return ", ".join(f"{k} {metrics[k]:.3f}" for k in ("train/acc", "val/acc") if k in metrics)

    def _lower_lr(self) -> str:
        if self.lr is None or self.lr_override is None:
            return "try a smaller learning rate"
        return f"try {self.lr_override(self.lr, 0.1)} (a tenth of {self.lr:g})"

    def _lr_advice(self) -> str:
        """The learning rate first: lower after divergence or oscillation, higher for a loss that stayed flat."""
        flat = (self.init_loss is not None and self.epoch_losses and not self.diverged
                and max(self.epoch_losses + [self.max_step_loss]) <= self.init_loss * 1.05
                and min(self.epoch_losses) > FLAT_RATIO * self.init_loss)
        find = f"; {self.lr_find} finds one" if self.lr_find else ""
        if self.lr is None or self.lr_override is None:
            return f"Try the learning rate first{find}"
        if flat:
            return f"Try the learning rate first: {self.lr_override(self.lr, 10)} (ten times {self.lr:g}){find}"
        return f"Try the learning rate first: {self.lr_override(self.lr, 0.1)} (a tenth of {self.lr:g}){find}"
