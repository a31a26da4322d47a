"""A run that did not learn says so: at chance level (against the majority-class accuracy, with scipy's Wilson
interval as the oracle) or with a loss that never fell, its last console lines and metrics.json's ``warnings`` name
the finding and the learning rate to try first; a run that learned has no warnings."""

from __future__ import annotations

import json
from collections import Counter
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf
from scipy.stats import binomtest

from nnml.run.learned import LossWatch, at_chance, chance_accuracy, learning_warnings


def _data(y_train, y_test, task="classification"):
    splits = {"train": (None, torch.tensor(y_train)), "val": (None, torch.tensor(y_test)),
              "test": (None, torch.tensor(y_test))}
    return SimpleNamespace(task=task, split=lambda name: splits[name])


def _watch(losses, last=None, from_start=True):
    w = LossWatch()
    w.epoch_losses, w.last, w.from_start = list(losses), dict(last or {}), from_start
    return w


def test_chance_is_the_training_majority_class_on_the_split():
    y_train = [0, 1, 1, 2, 1, 0, 1, 2]
    y_test = [0, 0, 0, 1, 2, 2, 1, 0, 0, 1]
    majority = Counter(y_train).most_common(1)[0][0]
    assert chance_accuracy(_data(y_train, y_test), "test") == (y_test.count(majority) / len(y_test), len(y_test))
    assert chance_accuracy(_data([0.5, 1.0], [0.5]), "test") is None  # regression targets: no classes


@pytest.mark.parametrize("correct", [12, 13, 25, 40])
def test_at_chance_means_the_wilson_interval_reaches_the_majority_rate(correct):
    n = 100
    y_test = [0] * 10 + list(range(1, 10)) * 10  # the training majority, class 0, is 10 of the 100
    data = _data([0, 0, 1], y_test)
    low, high = binomtest(correct, n).proportion_ci(0.95, method="wilson")
    found = at_chance({"test/acc": correct / n}, "test", data)
    assert (found is not None) == (low <= 0.10)
    if found:
        assert f"95% interval {low:.3f}-{high:.3f}, {n} samples" in found and "scores 0.100" in found


def test_one_class_is_no_chance_level_finding():
    assert at_chance({"test/acc": 1.0}, "test", _data([0, 0], [0, 0, 0])) is None


def test_regression_at_chance_is_r2_at_most_zero():
    data = _data([0.1, 0.2], [0.3], task="regression")
    assert "no better than predicting the mean" in at_chance({"test/r2": -0.02}, "test", data)
    assert at_chance({"test/r2": 0.4}, "test", data) is None


def _cfg(lr):
    return OmegaConf.create({"optimizer": {"lr": lr}})


def test_advice_names_the_learning_rate_first():
    data = _data([0, 1], [0, 1] * 50)  # chance 0.5 on 100 samples
    # flat loss at chance: ten times the learning rate
    (flat,) = learning_warnings({"test/acc": 0.5, "best_epoch": 3}, data, _watch([0.693, 0.6931, 0.6929]),
                                _cfg(1e-5), "1e-5")
    assert flat.startswith("the run did not learn: test/acc 0.500") and "never fell by 1%" in flat
    assert "try a larger learning rate first, optimizer.lr=1e-4 (ten times 1e-5)" in flat
    # a loss that blew up: a tenth
    (blew,) = learning_warnings({"test/acc": 0.5, "best_epoch": 3}, data, _watch([50.0, 900.0, 0.7]), _cfg(1.0))
    assert "try a smaller learning rate first, optimizer.lr=0.1 (a tenth of 1)" in blew
    # a good best epoch, then chance at the end: training fell apart, a tenth
    (apart,) = learning_warnings({"test/acc": 0.9, "val/acc": 0.9, "best_epoch": 1}, data,
                                 _watch([0.5, 0.4, 0.69], last={"val/acc": 0.49, "epoch": 3}), _cfg(0.5))
    assert apart.startswith("training fell apart: in its last epoch (3) val/acc 0.490")
    assert "the results are epoch 1's (the best checkpoint)" in apart and "optimizer.lr=0.05" in apart
    # learned: nothing; a resumed run's first epoch here is no baseline for the loss
    assert learning_warnings({"test/acc": 0.9, "best_epoch": 3}, data, _watch([0.5, 0.3, 0.2]), _cfg(0.1)) == []
    assert learning_warnings({"test/acc": 0.9, "best_epoch": 3}, data, _watch([0.2, 0.2], from_start=False),
                             _cfg(0.1)) == []


def test_a_run_at_chance_says_so_last_and_in_metrics_json(train_in_process):
    result, run = train_in_process("optimizer=sgd", "optimizer.lr=1e-6", "logger=none")
    assert result.exit_code == 0, result.output
    warnings = json.loads((run / "metrics.json").read_text())["warnings"]
    assert len(warnings) == 1 and warnings[0].startswith("the run did not learn: ")
    assert "optimizer.lr=1e-5 (ten times 1e-6)" in warnings[0]
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("warning: the run did not learn: ") and "optimizer.lr=1e-5" in last
    assert "warning: the run did not learn" in (run / "train.log").read_text()

    result, run = train_in_process("logger=none")  # the default MLP learns in 2 epochs
    assert result.exit_code == 0, result.output
    assert "warnings" not in json.loads((run / "metrics.json").read_text())
    assert "warning:" not in result.output
