"""nnml doctor: each finding on a small run built to show it (through the command's probe, in this process), the
checks' rules on hand-made signals (where they must stay quiet too), and a run folder read as it is."""

from __future__ import annotations

import json

import pytest

from nnml.run import doctor as D

CPU = ["trainer.device=cpu", "trainer.num_threads=1"]


def _doctor(*args, cwd=None):
    from typer.testing import CliRunner

    from nnml.cli import app

    result = CliRunner().invoke(app, ["doctor", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1]), result.output


def _found(report) -> dict:
    return {f["check"]: f for f in report["findings"]}


# (overrides of the probe, --epochs, the finding it must show, words of its evidence)
CASES = [
    ("lr_too_high", ["optimizer.lr=1.0"], 6, ["diverged", "chance level"]),
    ("lr_too_low", ["optimizer=sgd", "optimizer.lr=1e-5"], 3, ["flat"]),
    ("vanishing_grads", ["model.hidden=[32,32,32,32,32,32,32,32,32,32]", "model.activation=sigmoid",
                         "trainer.log_every_n_steps=2"], 1, ["orders of magnitude below"]),
    ("exploding_grads", ["dataset=diabetes", "optimizer=sgd", "optimizer.lr=1", "model.dropout=0",
                         "trainer.log_every_n_steps=1"], 2, ["gradient norm grew"]),
    ("dead_relus", ["optimizer.lr=0.05"], 5, ["never active"]),
    ("saturated_units", ["model.activation=tanh", "optimizer.lr=0.05"], 5, ["within 1%"]),
    ("overfitting", ["dataset.val_fraction=0.7", "dataset.test_fraction=0.1", "model.dropout=0", "optimizer.lr=0.01"],
     12, ["turned up", "kept falling"]),
]


@pytest.mark.parametrize("check, overrides, epochs, words", CASES, ids=[c[0] for c in CASES])
def test_a_probe_built_to_show_a_finding_shows_it(workdir, check, overrides, epochs, words):
    report, text = _doctor(*CPU, *overrides, "--epochs", str(epochs))
    found = _found(report)
    assert check in found, (report["findings"], report["not_checked"])
    f = found[check]
    assert all(w in f["evidence"] for w in words), f
    assert f["try"] and f["try"][0], f
    assert f["lab"].startswith("nnml lab") or f["lab"].startswith("nnml train -m"), f
    assert f"{check}" not in report["checked_fine"]
    assert not (workdir / "outputs").exists(), "a probe leaves nothing without --keep"


def _table(folder, rows, header):
    from tests.data.files import write_csv

    return write_csv(folder / "data.csv", header, rows)


def test_duplicates_across_splits(workdir):
    from tests.data.files import WINE_TARGET, wine_rows

    header, rows, _ = wine_rows()
    path = _table(workdir, rows + rows, header)  # every sample twice: the split scatters the copies
    report, _ = _doctor(*CPU, "dataset=csv", f"dataset.path={path}", f"dataset.target={WINE_TARGET}", "--epochs", "1")
    f = _found(report)["duplicates"]
    assert "also in train" in f["evidence"] and "val" in f["evidence"] and "test" in f["evidence"]


def test_class_imbalance(workdir):
    from tests.data.files import WINE_TARGET, wine_rows

    header, rows, y = wine_rows()
    kept = [r for r, c in zip(rows, y) if c == 0] * 3 + [r for r, c in zip(rows, y) if c != 0][::4]
    path = _table(workdir, kept, header)
    report, _ = _doctor(*CPU, "dataset=csv", f"dataset.path={path}", f"dataset.target={WINE_TARGET}", "--epochs", "1")
    f = _found(report)["class_imbalance"]
    assert "class_0" in f["evidence"] and f["try"][0].startswith("trainer.monitor=val/f1")
    assert "duplicates" in _found(report)  # the tripled class-0 rows are duplicates too, and are reported


@pytest.mark.slow
def test_a_healthy_default_run_has_no_finding(workdir, train_in_process):
    result, run = train_in_process(tiny=False)
    assert result.exit_code == 0, result.output
    report, text = _doctor(str(run))
    assert report["findings"] == [], report["findings"]
    assert set(report["checked_fine"]) == set(D.CHECKS) - {"saturated_units"}
    assert "saturated_units" in report["not_checked"]  # a ReLU model: said, not reported as fine
    assert json.loads((run / "metrics.json").read_text())["warnings"] == []


def test_a_run_folder_is_read_as_it_is(workdir, train_in_process):
    result, run = train_in_process("optimizer.lr=1.0", "trainer.max_epochs=4")
    assert result.exit_code == 0, result.output
    report, text = _doctor(str(run))
    assert report["status"] == "finished" and "lr_too_high" in _found(report)
    assert "optimizer.lr=0.1" in _found(report)["lr_too_high"]["try"][0]
    assert "1. learning rate too high" in text and "evidence:" in text and "lab:" in text


def test_bad_input_is_one_line(workdir):
    from typer.testing import CliRunner

    from nnml.cli import app

    for args, words in ((["no_such_run"], "no such run folder"), (["optimizer=adamm"], "did you mean 'adam'"),
                        (["--epochs", "0"], "--epochs 0 is not valid")):
        result = CliRunner().invoke(app, ["doctor", *args])
        assert result.exit_code == 2 and words in result.output, (args, result.output)


# ------------------------------------------------------------------------------------------ the rules, by hand
def _sig(epochs=(), steps=(), **kw):
    rows = [{"step": s, **v} for s, v in steps]
    return D.Signals(steps=rows, epochs=[{"epoch": i + 1, **e} for i, e in enumerate(epochs)], lr=0.01, **kw)


def test_rules_stay_quiet_on_a_healthy_curve():
    epochs = [{"train/loss": 2.0 / (i + 1), "val/loss": 2.1 / (i + 1), "train/acc": 0.5 + i / 20,
               "val/acc": 0.5 + i / 20} for i in range(8)]
    steps = [(1, {"train/loss": 2.3, "grad_norm": 0.5, "layers/grad_norm/1:Linear": 0.2,
                  "layers/grad_norm/7:Linear": 0.4, "layers/dead/2:ReLU": 0.05})]
    sig = _sig(epochs, steps, kind="classification", chance=0.1)
    for fn in (D.check_lr_too_high, D.check_lr_too_low, D.check_vanishing, D.check_exploding, D.check_dead,
               D.check_overfitting):
        assert fn(sig) is None, fn.__name__


def test_chance_level_with_a_flat_loss_is_a_learning_rate_too_low_not_too_high():
    epochs = [{"train/loss": 2.30, "train/acc": 0.1, "val/acc": 0.1}] * 3
    sig = _sig(epochs, [(1, {"train/loss": 2.31})], kind="classification", chance=0.1)
    assert D.check_lr_too_high(sig) is None
    assert "chance level" in D.check_lr_too_low(sig).evidence


def test_dead_first_layer_gradients_are_not_vanishing_ones():
    steps = [(1, {"train/loss": 2.3, "layers/grad_norm/1:Linear": 0.0, "layers/grad_norm/7:Linear": 0.4})]
    assert D.check_vanishing(_sig(steps=steps)) is None


def test_duplicates_and_imbalance_rules():
    assert D.check_duplicates({"train": [b"a", b"b"], "val": [b"c"], "test": [b"d"]}) is None
    f = D.check_duplicates({"train": [b"a", b"b"], "val": [b"a", b"c"], "test": [b"d"]})
    assert "1 of 2 val samples (50.0%) are also in train" in f.evidence
    assert D.check_imbalance({"a": 30, "b": 10}) is None  # 3 times: not more than 3
    assert "accuracy 0.800" in D.check_imbalance({"a": 40, "b": 10}).evidence
