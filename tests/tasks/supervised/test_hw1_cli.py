"""Homework 1 through the real CLI: the regularization keys train, the two presets sweep and print their tables,
and the lab reads a regularization sweep (tiny data, 1-2 epochs)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import cli, read_metrics

SMALL = ["dataset.num_samples=1000", "trainer.num_threads=1", "trainer.device=cpu"]


def test_every_regularization_key_trains_through_nnml_train(train_in_process):
    result, run = train_in_process(
        "dataset=mnist1d", "dataset.num_samples=1000", "dataset.n_train=200", "model=cnn1d", "logger=none",
        "task.augment=[{_target_:nnml.augment.signal.RandomShift,max_shift:3},"
        "{_target_:nnml.augment.signal.GaussianNoise,std:0.1}]",
        "task.mixup_alpha=0.2", "task.l1=1e-4", "task.max_norm=2.0", "model.batch_norm=true",
        "loss.label_smoothing=0.1")
    assert result.exit_code == 0, result.output[-2000:]
    m = read_metrics(run)
    assert 0.0 <= m["test/acc"] <= 1.0 and m["epochs"] == 2
    cfg = (run / ".hydra" / "config.yaml").read_text()
    assert "RandomShift" in cfg and "mixup_alpha: 0.2" in cfg


def test_bad_regularization_keys_are_refused_in_one_line(train_in_process):
    result, _ = train_in_process("dataset=mnist1d", "dataset.num_samples=1000", "task.max_norm=-1", "logger=none")
    assert result.exit_code != 0 and "task.max_norm=-1" in result.output
    result, _ = train_in_process("dataset=mnist1d", "dataset.num_samples=1000", "logger=none",
                                 "task.augment=[{max_shift:3}]")
    assert result.exit_code != 0 and "task.augment[0]" in result.output and "needs a _target_" in result.output


@pytest.mark.slow
def test_presets_sweep_print_their_tables_and_the_lab_reads_the_sweep(tmp_path):
    # The paper table: two families, one epoch each, on 1000 signals.
    proc = cli(["train", "-m", "experiment=mnist1d_table", *SMALL, "+mnist1d_family=logistic,cnn",
                    "trainer.max_epochs=1", "logger=none"], cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "the paper's test accuracy beside nnml's" in proc.stdout
    sweep = next((tmp_path / "outputs" / "mnist1d_table" / "multiruns").iterdir())
    table = (sweep / "paper_table.md").read_text()
    assert "| logistic | linear | 32.0 |" in table and "| cnn | cnn1d | 94.0 |" in table

    # The regularization sweep, three of its methods, then the lab on it.
    proc = cli(["train", "-m", "experiment=regularization", *SMALL, "dataset.n_train=100",
                    "+regularizer=none,l1,augment", "trainer.max_epochs=2"], cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = next((tmp_path / "outputs" / "regularization" / "multiruns").iterdir())
    proc = cli(["lab", "regularization", "--json", f"sweep={sweep}"], cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    numbers = json.loads(proc.stdout)
    rows = {r["method"]: r for r in numbers["rows"]}
    assert set(rows) == {"none", "l1", "augment"}
    assert rows["none"]["gap closed"] == 0.0
    for r in rows.values():
        assert abs(r["gap (train-val)"] - (r["train acc"] - r["val acc"])) < 1e-9
    assert {"learning_curves.png", "weight_histograms.png", "regularization.csv"} <= set(numbers["files"])
