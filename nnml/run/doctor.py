"""``nnml doctor``: what went wrong in a run, read from what it logged, each finding with its evidence, the override
to try and the lab (``nnml lab ...``) that explains it.

Sources: ``signals.jsonl`` (the loss at each logging step, the epoch metrics, and with ``trainer.layer_stats`` the
per-layer gradient norms, dead and saturated units: :mod:`nnml.engine.probe`), ``metrics.json`` or ``error.txt``,
the saved config (the learning rate, the overrides), and the data rebuilt from the config (the splits). A check
whose signals the run lacks is listed as not checked, with the reason; nothing is reported fine that was not looked
at.

The checks and their thresholds (docs/recipe.md explains each):

==================  ===================================================================================
lr_too_high         the training loss rose above twice its value at init (diverged), rose by >30% (and by a
                    tenth of the loss at init) at least twice (oscillates), became non-finite, or the accuracy
                    ended at chance level while the loss was not flat
lr_too_low          the training loss never fell below 90% of its value at init, nor rose above 105% (flat)
vanishing_grads     the first layer's gradient norm is below 1/100 of the last layer's (median of the first 3
                    logged steps: from init on)
exploding_grads     the gradient norm grew to more than 100 times its value at init (and above 10), or the first
                    layer's is above 100 times the last layer's
dead_relus          a ReLU layer has more than half of its units inactive on a whole batch (the last logged one)
saturated_units     a tanh/sigmoid layer has more than half of its outputs within 1% of its bounds
overfitting         val/loss turned up: its last value is more than 10% (and 0.01) above its lowest, while
                    train/loss kept falling after that epoch
duplicates          samples of val or test that are also in train (exact copies of the input)
class_imbalance     the largest class of the training labels has more than 3 times the samples of the smallest
==================  ===================================================================================
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nnml.errors import NnmlError

CHECKS = ("lr_too_high", "lr_too_low", "vanishing_grads", "exploding_grads", "dead_relus", "saturated_units",
          "overfitting", "duplicates", "class_imbalance")

LABS = {
    "lr_too_high": "nnml lab trajectories function=rosenbrock lr.sgd=0.01  (docs/lecture1.md, 4: a step too large "
                   "for the curvature overshoots and diverges)",
    "lr_too_low": "nnml lab trajectories function=rosenbrock optimizers=[sgd,adam]  (docs/lecture1.md, 4: plain "
                  "gradient descent at lr 1e-3 crawls)",
    "vanishing_grads": "nnml lab activations names=[sigmoid,tanh,relu]  (docs/lecture1.md, 1: sigmoid's derivative is "
                       "at most 1/4, ten layers scale a gradient by 4^-10)",
    "exploding_grads": "nnml lab gradcheck hidden=[64,64,64]  (docs/lecture1.md, 2: backprop multiplies a gradient "
                       "by each layer's weights on its way to the input)",
    "dead_relus": "nnml lab activations names=[relu,leaky_relu,gelu]  (docs/lecture1.md, 1: ReLU's derivative is "
                  "exactly 0 for x < 0: a unit that is never positive never learns again)",
    "saturated_units": "nnml lab activations names=[tanh,sigmoid]  (docs/lecture1.md, 1: the derivative vanishes "
                       "where the function flattens)",
    "overfitting": "nnml train -m experiment=regularization, then nnml lab regularization  (which regularizer "
                   "closes the train/val gap)",
    "duplicates": "",
    "class_imbalance": "",
}


@dataclass
class Finding:
    check: str
    title: str
    evidence: str
    try_: list[str]
    lab: str = ""

    def as_dict(self) -> dict:
        d = asdict(self)
        d["try"] = d.pop("try_")
        return d


@dataclass
class Report:
    run: str
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # looked at and fine
    not_checked: dict = field(default_factory=dict)  # check -> why it could not be looked at
    status: str = ""

    def as_dict(self) -> dict:
        return {"run": self.run, "status": self.status, "findings": [f.as_dict() for f in self.findings],
                "checked_fine": self.checked, "not_checked": self.not_checked}


# ---------------------------------------------------------------------------------------------- what a run logged
@dataclass
class Signals:
    steps: list[dict]  # the logging steps' scalars, in order
    epochs: list[dict]  # the epochs' metrics, in order
    lr: float | None = None
    overrides: list = field(default_factory=list)
    kind: str = ""  # classification, regression, ...
    chance: float | None = None
    error: str | None = None
    lr_typed: str | None = None

    @property
    def init_loss(self) -> float | None:
        first = self.steps[0] if self.steps else None
        return first.get("train/loss") if first and first.get("step") == 1 else None

    def series(self, key: str, rows=None) -> list[tuple[int, float]]:
        return [(r.get("epoch", 0), r[key]) for r in (self.epochs if rows is None else rows)
                if isinstance(r.get(key), (int, float))]

    def layers(self, stat: str) -> list[dict[str, float]]:
        """Per logged step: layer -> value of ``layers/<stat>/<layer>`` (the steps that have it)."""
        out = []
        for r in self.steps:
            values = {k.split("/", 2)[2]: v for k, v in r.items() if k.startswith(f"layers/{stat}/")}
            if values:
                out.append({"step": r.get("step"), **values})
        return out


def lr_override(lr: float | None, factor: float, typed: str | None = None) -> str:
    if lr is None:
        return "optimizer.lr=<smaller>" if factor < 1 else "optimizer.lr=<larger>"
    from nnml.config.notation import number_like

    return f"optimizer.lr={number_like(lr * factor, typed)}"


def _lr_find(sig: Signals) -> str:
    from nnml.run.advice import lr_find_command

    return lr_find_command(sig.overrides)


# ---------------------------------------------------------------------------------------------- the checks
def _flat(sig: Signals) -> bool:
    """The training loss never fell below 90% of its value at init and never rose above 105% of it."""
    init, losses = sig.init_loss, [v for _, v in sig.series("train/loss")]
    return init is not None and len(losses) >= 2 and min(losses) > 0.9 * init and max(losses) <= 1.05 * init


def _at_chance(sig: Signals) -> str:
    """The last epoch's accuracies when they are at chance level, else ''."""
    last = sig.epochs[-1] if sig.epochs else {}
    if sig.kind != "classification" or sig.chance is None:
        return ""
    accs = {k: last[k] for k in ("train/acc", "val/acc") if isinstance(last.get(k), (int, float))}
    if accs and all(a <= sig.chance + 0.1 * (1 - sig.chance) for a in accs.values()):
        return f"the accuracy ended at chance level ({', '.join(f'{k} {v:.3f}' for k, v in accs.items())}; " \
               f"chance {sig.chance:.3f})"
    return ""


def check_lr_too_high(sig: Signals) -> Finding | None:
    init = sig.init_loss
    losses = sig.series("train/loss")
    steps = [(r.get("step"), r["train/loss"]) for r in sig.steps if isinstance(r.get("train/loss"), (int, float))]
    evidence = []
    if init is not None:
        peak = max([v for _, v in losses] + [v for _, v in steps], default=None)
        if peak is not None and (not math.isfinite(peak) or peak > 2 * init):
            where = next((f"epoch {e}" for e, v in losses if v == peak), None) or \
                next((f"step {s}" for s, v in steps if v == peak), "")
            evidence.append(f"the training loss diverged: {peak:.4g} at {where}, {init:.4g} at init")
        floor = 0.1 * init
        rises = [(e, a, b) for (_, a), (e, b) in zip(losses, losses[1:]) if b > 1.3 * a and b - a > floor]
        if len(rises) >= 2:
            evidence.append(f"it oscillates: it rose by more than 30% in {len(rises)} epochs (e.g. epoch "
                            f"{rises[0][0]}: {rises[0][1]:.4g} -> {rises[0][2]:.4g})")
    if sig.error and ("non-finite" in sig.error or "nan" in sig.error.lower()):
        evidence.append(f"the run failed: {sig.error.split(';')[0]}")
    chance = _at_chance(sig)
    if chance and (evidence or not _flat(sig)):  # at chance with a flat loss is a learning rate too low
        evidence.append(chance)
    if not evidence:
        return None
    return Finding("lr_too_high", "learning rate too high", "; ".join(evidence),
                   [f"{lr_override(sig.lr, 0.1, sig.lr_typed)} (a tenth)", _lr_find(sig)], LABS["lr_too_high"])


def check_lr_too_low(sig: Signals) -> Finding | None:
    if not _flat(sig):
        return None
    init, losses = sig.init_loss, [v for _, v in sig.series("train/loss")]
    chance = _at_chance(sig)
    return Finding("lr_too_low", "learning rate too low", f"the training loss is flat: {init:.4g} at init, "
                   f"{min(losses):.4g} at its lowest over {len(losses)} epochs ({1 - min(losses) / init:.1%} down)"
                   + (f"; {chance}" if chance else ""),
                   [f"{lr_override(sig.lr, 10, sig.lr_typed)} (ten times)", _lr_find(sig)], LABS["lr_too_low"])


def _first_last(row: dict) -> tuple[str, str] | None:
    names = [k for k in row if k != "step"]
    return (names[0], names[-1]) if len(names) >= 2 else None


def check_vanishing(sig: Signals) -> Finding | None:
    """On the first three logged steps (from init on: vanishing gradients are the network's, not the training's);
    a first layer with no gradient at all is dead units, not vanishing ones, and is left to that check."""
    pairs = [(r, ab) for r in sig.layers("grad_norm")[:3] for ab in [_first_last(r)] if ab]
    ratios = [r[a] / r[b] for r, (a, b) in pairs if r[a] > 0 and r[b] > 0 and math.isfinite(r[a] / r[b])]
    if not ratios or statistics.median(ratios) >= 1e-2:
        return None
    r, (first, last) = pairs[0]
    orders = -math.log10(statistics.median(ratios))
    return Finding("vanishing_grads", "vanishing gradients",
                   f"the first layer's gradient norm is {orders:.1f} orders of magnitude below the last layer's "
                   f"(median of the first {len(ratios)} logged steps; at step {r['step']}: {first} {r[first]:.2g}, "
                   f"{last} {r[last]:.2g})",
                   ["model.activation=relu", "model.batch_norm=true", "fewer layers (model.hidden=[...])"],
                   LABS["vanishing_grads"])


def check_exploding(sig: Signals) -> Finding | None:
    norms = [(r.get("step"), r["grad_norm"]) for r in sig.steps if isinstance(r.get("grad_norm"), (int, float))]
    evidence = []
    if norms and norms[0][0] == 1:
        start = norms[0][1]
        big = [(s, v) for s, v in norms if not math.isfinite(v) or (v > 100 * start and v > 10)]
        if big:
            evidence.append(f"the gradient norm grew from {start:.3g} at step 1 to {big[0][1]:.3g} at step {big[0][0]}")
    rows = sig.layers("grad_norm")
    ratios = [(r, ab) for r in rows for ab in [_first_last(r)] if ab and r[ab[1]] > 0]
    high = [(r, ab) for r, ab in ratios if r[ab[0]] / r[ab[1]] > 100]
    if ratios and len(high) * 2 > len(ratios):
        r, (a, b) = high[0]
        evidence.append(f"the first layer's gradient norm is {r[a] / r[b]:.3g} times the last layer's at step "
                        f"{r['step']}")
    if not evidence:
        return None
    return Finding("exploding_grads", "exploding gradients", "; ".join(evidence),
                   ["trainer.grad_clip=1.0", f"{lr_override(sig.lr, 0.1, sig.lr_typed)} (a tenth)",
                    "model.batch_norm=true"], LABS["exploding_grads"])


def _last_stat(sig: Signals, stat: str) -> tuple[dict, list[tuple[str, float]]] | None:
    rows = sig.layers(stat)
    if not rows:
        return None
    last = rows[-1]
    return last, [(k, v) for k, v in last.items() if k != "step"]


def _over_half(sig: Signals, stat: str) -> tuple[dict, str] | None:
    """(the last logged row, "layer share, ...") of the layers where more than half the units show ``stat``."""
    got = _last_stat(sig, stat)
    if got is None:
        return None
    row, values = got
    bad = [(k, v) for k, v in values if v > 0.5]
    return (row, ", ".join(f"{k} {v:.0%}" for k, v in bad)) if bad else None


def check_dead(sig: Signals) -> Finding | None:
    got = _over_half(sig, "dead")
    if got is None:
        return None
    row, listed = got
    return Finding("dead_relus", "dead ReLU units", f"units never active on a whole batch at step {row['step']}: "
                   f"{listed} of the layer's units",
                   ["model.activation=leaky_relu", f"{lr_override(sig.lr, 0.1, sig.lr_typed)} (a tenth: large steps "
                    f"push units below zero for good)", "model.batch_norm=true"], LABS["dead_relus"])


def check_saturated(sig: Signals) -> Finding | None:
    got = _over_half(sig, "saturated")
    if got is None:
        return None
    row, listed = got
    return Finding("saturated_units", "saturated tanh/sigmoid units", f"outputs within 1% of the function's bounds "
                   f"at step {row['step']}: {listed}",
                   ["model.batch_norm=true", "model.activation=relu",
                    f"{lr_override(sig.lr, 0.1, sig.lr_typed)} (a tenth)"], LABS["saturated_units"])


def check_overfitting(sig: Signals) -> Finding | None:
    val, train = dict(sig.series("val/loss")), dict(sig.series("train/loss"))
    if len(val) < 3:
        return None
    best = min(val, key=val.get)
    last = max(val)
    if not (val[last] > 1.1 * val[best] and val[last] - val[best] > 0.01):
        return None
    if best not in train or last not in train or not train[last] < train[best]:
        return None
    return Finding("overfitting", "overfitting",
                   f"val/loss turned up after epoch {best}: {val[best]:.4g} there, {val[last]:.4g} at epoch {last} "
                   f"(+{val[last] / val[best] - 1:.0%}), while train/loss kept falling ({train[best]:.4g} -> "
                   f"{train[last]:.4g}); the best checkpoint (by the monitored metric) is what was tested",
                   ["trainer.patience=5 (stop where it turns)", "+regularizer=dropout, +regularizer=l2 or another "
                    "(nnml list regularizer)"], LABS["overfitting"])


def check_duplicates(splits: dict) -> Finding | None:
    """``splits``: split -> list of row fingerprints (bytes of each input)."""
    train = set(splits["train"])
    found = []
    for name in ("val", "test"):
        rows = splits.get(name) or []
        n = sum(r in train for r in rows)
        if n:
            found.append(f"{n} of {len(rows)} {name} samples ({n / len(rows):.1%}) are also in train")
    if splits.get("val") and splits.get("test"):
        val = set(splits["val"])
        n = sum(r in val for r in splits["test"])
        if n:
            found.append(f"{n} test samples are also in val")
    if not found:
        return None
    return Finding("duplicates", "duplicate samples across splits",
                   "; ".join(found) + ": the model is scored on samples it trained on, so val/test overrate it",
                   ["no override fixes the data: drop duplicate rows before the split (pandas: "
                    "df.drop_duplicates()), then train again"], LABS["duplicates"])


def check_imbalance(counts: dict) -> Finding | None:
    """``counts``: class -> training samples."""
    if len(counts) < 2:
        return None
    big, small = max(counts, key=counts.get), min(counts, key=counts.get)
    if counts[big] <= 3 * max(counts[small], 1):
        return None
    total = sum(counts.values())
    return Finding("class_imbalance", "class imbalance",
                   f"class {big} has {counts[big]} training samples ({counts[big] / total:.0%}), class {small} "
                   f"{counts[small]}: a model that always answers {big} scores accuracy {counts[big] / total:.3f}",
                   ["trainer.monitor=val/f1 (macro F1 weighs every class alike; accuracy hides the small ones)"],
                   LABS["class_imbalance"])


# ---------------------------------------------------------------------------------------------- a run folder
def read_run(run_dir: Path, allow=()) -> tuple[Signals, dict | None, object | None, str | None]:
    """(signals, metrics.json or None, the data rebuilt from the config or None, why the data is missing)."""
    from nnml.config.runfolder import RunFolder
    from nnml.tracking.signals import FILENAME, read_signals

    folder = RunFolder(run_dir).require()
    rows = read_signals(folder.path / FILENAME)
    metrics = folder.metrics()
    cfg = folder.raw_config()
    lr = (cfg.get("optimizer") or {}).get("lr") if isinstance(cfg.get("optimizer"), dict) else None
    overrides = folder.overrides()
    typed = next((o.split("=", 1)[1] for o in overrides if o.startswith("optimizer.lr=")), None)
    sig = Signals(steps=[r for r in rows if r.get("kind") == "step"], epochs=[r for r in rows if r.get("kind") == "epoch"],
                  lr=float(lr) if isinstance(lr, (int, float)) else None, overrides=overrides, error=folder.error(),
                  lr_typed=typed)
    data, why = None, None
    try:
        from nnml.config.seeds import data_seed
        from nnml.run.build import build_data

        full, trust = folder.load_config(allow=allow)
        data = build_data(full.dataset, seed=data_seed(full), trust=trust)
    except NnmlError as e:
        why = str(e)
    if data is not None:
        from nnml.run.advice import chance_level

        sig.kind, sig.chance = getattr(data, "task", ""), chance_level(data)
    return sig, metrics, data, why


def fingerprints(data) -> dict | None:
    """split -> one bytes fingerprint per input row (exact copies match); None when the inputs are not tensors."""
    import hashlib

    import torch

    out = {}
    for split in ("train", "val", "test"):
        x = getattr(data, f"x_{split}", None)
        if not isinstance(x, torch.Tensor):
            return None
        flat = x.detach().reshape(len(x), -1).contiguous().cpu().numpy()
        out[split] = [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]
    return out


def class_counts(data) -> dict | None:
    import torch

    y = getattr(data, "y_train", None)
    if getattr(data, "task", "") != "classification" or not isinstance(y, torch.Tensor) or y.dim() != 1:
        return None
    names = list(getattr(data, "class_names", []) or [])
    counts = torch.bincount(y.long().clamp(min=0)).tolist()
    return {(names[i] if i < len(names) else str(i)): c for i, c in enumerate(counts) if c or i < len(names)}


def diagnose(run_dir, allow=()) -> Report:
    """Every check on the run in ``run_dir``."""
    run_dir = Path(run_dir)
    sig, metrics, data, why = read_run(run_dir, allow)
    status = ("finished" if metrics is not None and not sig.error else f"failed: {sig.error}" if sig.error
              else "unfinished (no metrics.json)")
    report = Report(str(run_dir), status=status)
    no_signals = f"{run_dir}/signals.jsonl is missing or empty (a run from before nnml wrote it)"
    no_layers = "no per-layer statistics in signals.jsonl (trainer.layer_stats=false, or no logging step ran)"
    has_layers = bool(sig.layers("grad_norm"))

    def run(check: str, fn, *args, needs: str | None = None):
        if needs:
            report.not_checked[check] = needs
            return
        finding = fn(*args)
        if finding is not None:
            report.findings.append(finding)
        else:
            report.checked.append(check)

    curves = None if (sig.steps or sig.epochs) else no_signals
    init = None if sig.init_loss is not None else (curves or "the loss at init (step 1) was not logged")
    run("lr_too_high", check_lr_too_high, sig, needs=curves)
    run("lr_too_low", check_lr_too_low, sig, needs=init)
    run("vanishing_grads", check_vanishing, sig, needs=curves or (None if has_layers else no_layers))
    run("exploding_grads", check_exploding, sig, needs=curves)
    run("dead_relus", check_dead, sig, needs=curves or (None if sig.layers("dead") else
                                                        "the model has no ReLU layer (none in signals.jsonl)"))
    run("saturated_units", check_saturated, sig, needs=curves or (None if sig.layers("saturated") else
                                                                  "the model has no tanh or sigmoid layer (none in "
                                                                  "signals.jsonl)"))
    run("overfitting", check_overfitting, sig,
        needs=curves or (None if len(sig.series("val/loss")) >= 3 else "fewer than 3 validated epochs"))
    prints = fingerprints(data) if data is not None else None
    run("duplicates", check_duplicates, prints,
        needs=None if prints is not None else (why or "the inputs are not tensors held in memory"))
    counts = class_counts(data) if data is not None else None
    run("class_imbalance", check_imbalance, counts,
        needs=None if counts is not None else (why or "not a classification with class labels"))
    return report
