"""A run that did not learn says so, and a healthy one says nothing: the new user's case (Adam at lr 1.0 on digits)
through the real command, the default run, and each live check on the loop's reports."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

from nnml.tracking.advice import Advisor


def test_adam_at_lr_1_on_digits_says_it_did_not_learn(train_in_process):
    result, run = train_in_process("optimizer=adam", "optimizer.lr=1.0", "trainer.max_epochs=10")
    assert result.exit_code == 0, result.output  # not an error: the run finished, and says what happened
    m = json.loads((run / "metrics.json").read_text())
    text = " ".join(m["warnings"])
    assert "did not learn" in text and "chance level" in text and "diverges" in text
    assert "optimizer.lr=0.1" in text and "nnml lr-find" in text and "optimizer=adam finds one" in text
    tail = result.output[result.output.index("Results"):]  # the final summary, after the results table
    assert "warnings about this run" in tail and "did not learn" in tail
    log = (run / "train.log").read_text()
    assert "did not learn" in log and "optimizer.lr=0.1" in log


@pytest.mark.slow
def test_the_default_run_warns_of_nothing(train_in_process):
    result, run = train_in_process(tiny=False)
    assert result.exit_code == 0, result.output
    assert json.loads((run / "metrics.json").read_text())["warnings"] == []
    assert "warning" not in result.output.lower()
    assert "warning" not in (run / "train.log").read_text().lower()


# ------------------------------------------------------------------------------------------ each check
def _advisor(**kw):
    said = []
    a = Advisor(kind="classification", classes=10, chance=0.1, loss_name="auto (cross_entropy)",
                lr_override=lambda lr, f: f"optimizer.lr={lr * f:g}", lr_find="nnml lr-find x=1", say=said.append,
                **kw)
    a.on_fit_start(SimpleNamespace(global_step=0))
    return a, said


def _state(step=1, epoch=0):
    return SimpleNamespace(global_step=step, epoch=epoch)


def test_the_loss_at_init_far_from_ln_c_is_said_once():
    a, said = _advisor()
    a.on_train_log(_state(1), {"train/loss": math.log(10) + 0.1, "lr": 1e-3})
    assert said == []  # near ln(10): fine
    a, said = _advisor()
    a.on_train_log(_state(1), {"train/loss": 9.0, "lr": 1e-3})
    a.on_train_log(_state(1), {"train/loss": 9.0, "lr": 1e-3})
    assert len(said) == 1 and "ln(10) = 2.3" in said[0] and "too confident" in said[0]


def test_chance_level_after_three_epochs():
    a, said = _advisor()
    a.on_train_log(_state(1), {"train/loss": 2.3, "lr": 1e-3})
    for e in (1, 2, 3):
        a.on_epoch_end(_state(10 * e, e), {"train/loss": 2.29, "train/acc": 0.11, "val/acc": 0.12, "lr": 1e-3})
    assert len(said) == 1 and "chance level after 3 epochs" in said[0]
    assert "optimizer.lr=0.01" in said[0]  # a flat loss: ten times the learning rate


def test_divergence_and_oscillation():
    a, said = _advisor()
    a.on_train_log(_state(1), {"train/loss": 2.3, "lr": 1.0})
    a.on_train_log(_state(50), {"train/loss": 50.0, "lr": 1.0})
    assert "diverges" in said[-1] and "optimizer.lr=0.1" in said[-1]
    b, said = _advisor()
    b.on_train_log(_state(1), {"train/loss": 2.3, "lr": 0.5})
    for e, loss in enumerate([2.0, 1.0, 1.6, 0.9, 1.5], start=1):
        b.on_epoch_end(_state(10 * e, e), {"train/loss": loss, "train/acc": 0.6, "lr": 0.5})
    assert len(said) == 1 and "oscillates" in said[0]


def test_nonfinite_gradients_of_a_named_layer_but_not_under_fp16():
    a, said = _advisor()
    a.on_train_log(_state(1), {"train/loss": 2.3, "lr": 1e-3, "layers/grad_norm/3:Linear": float("inf"),
                               "layers/grad_norm/1:Linear": 0.1})
    assert len(said) == 1 and "layer 3:Linear" in said[0] and "NaN or inf" in said[0]
    b, said = _advisor(fp16=True)
    b.on_train_log(_state(1), {"train/loss": 2.3, "lr": 1e-3, "layers/grad_norm/3:Linear": float("inf")})
    assert said == []


def test_a_loss_that_never_fell_is_said_at_the_end_not_before():
    a, said = _advisor()
    a.on_train_log(_state(1), {"train/loss": 2.3, "lr": 1e-6})
    for e in (1, 2):
        a.on_epoch_end(_state(10 * e, e), {"train/loss": 2.299, "train/acc": 0.5, "lr": 1e-6})
    warnings = a.verdict({"val/acc": 0.5}, {"train/loss": 2.299, "train/acc": 0.5})
    assert said == [] and len(warnings) == 1 and "never fell" in warnings[0] and "optimizer.lr=1e-05" in warnings[0]


def test_too_short_a_run_gets_no_verdict():
    a, said = _advisor()
    a.on_train_log(_state(1), {"train/loss": 2.3, "lr": 1e-3})
    a.on_epoch_end(_state(1, 1), {"train/loss": 2.3, "train/acc": 0.1, "lr": 1e-3})
    assert a.verdict({"val/acc": 0.1}, {"train/loss": 2.3, "train/acc": 0.1}) == []


def test_a_resumed_run_knows_its_loss_at_init_from_its_signals():
    a, said = _advisor()
    a.resume_from([{"kind": "step", "step": 1, "train/loss": 2.3}, {"kind": "epoch", "step": 10, "train/loss": 2.3},
                   {"kind": "epoch", "step": 20, "train/loss": 2.3}, {"kind": "epoch", "step": 30, "train/loss": 9.9}])
    a.on_fit_start(SimpleNamespace(global_step=20, epoch=2))  # resumed from epoch 2: the third row is not its own
    assert a.init_loss == 2.3 and a.epoch_losses == [2.3, 2.3]
    a.on_epoch_end(_state(30, 3), {"train/loss": 2.299, "train/acc": 0.5, "lr": 1e-6})
    assert "never fell" in a.verdict({}, {"train/loss": 2.299, "train/acc": 0.5})[0]
