"""nnml verify RUN: a run folder trained again with its recorded threads, device and seeds. The oracles: the run's
own files (a run verifies against itself, bit for bit on the CPU), and files changed on purpose (a number, a row of
the history, the config), which must be found and named."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import TINY, cli

ARGS = ["train", *TINY, "trainer.max_epochs=3", "logger=all", "model.dropout=0.2", "model.hidden=[32]"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A finished 3-epoch run with metrics.csv and TensorBoard events."""
    root = tmp_path_factory.mktemp("verify")
    proc = cli([*ARGS, "hydra.run.dir=run"], cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "run"


@pytest.fixture
def copy(run, tmp_path) -> Path:
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def verify(*args):
    from nnml.cli import app

    result = CliRunner().invoke(app, ["verify", *[str(a) for a in args]])
    return result.exit_code, result.stdout, result.stderr


def numbers_in(run: Path) -> tuple[int, int]:
    """(final numbers, per-epoch numbers) the run's files hold: what verify must compare."""
    m = json.loads((run / "metrics.json").read_text())
    final = sum(k.split("/")[0] in ("train", "val", "test") for k in m) + 3  # + epochs, best_epoch, stop_reason
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return final, sum(len(r) - 1 for r in rows)  # every column but epoch


def set_csv(run: Path, epoch: int, key: str, value: float) -> None:
    path = run / "metrics.csv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        if int(r["epoch"]) == epoch:
            r[key] = repr(value)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_a_run_verifies_bit_for_bit(run):
    code, out, err = verify(run)
    assert code == 0, out + err
    final, history = numbers_in(run)
    assert out.strip() == (f"verified: {final + history} numbers (metrics.json and metrics.csv) match the re-run bit "
                           f"for bit")
    assert "re-running the whole run on cpu with 1 thread, seed 42, data_seed 42" in err


def test_a_changed_number_is_found_and_named(copy):
    m = json.loads((copy / "metrics.json").read_text())
    m["val/acc"] = math.nextafter(m["val/acc"], 2.0)  # one ulp
    (copy / "metrics.json").write_text(json.dumps(m))
    code, out, _ = verify(copy)
    assert code == 1
    final, history = numbers_in(copy)
    assert f"1 of {final + history} numbers differ from the re-run" in out
    row = next(line for line in out.splitlines() if "val/acc" in line)
    assert "final" in row and repr(m["val/acc"]) in row


def test_epochs_checks_the_first_epochs_of_the_history(copy):
    with open(copy / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    set_csv(copy, 2, "val/loss", float(rows[1]["val/loss"]) * 1.001)
    code, out, _ = verify(copy, "--epochs", 1)
    assert code == 0, out
    assert out.strip() == f"verified: {len(rows[0]) - 1} numbers (metrics.csv) match the re-run bit for bit"
    code, out, _ = verify(copy, "--epochs", 2)
    assert code == 1
    assert "1 of" in out and next(line for line in out.splitlines() if "val/loss" in line).split()[3] == "2"


def test_without_metrics_csv_the_tensorboard_events_are_the_history(copy):
    (copy / "metrics.csv").unlink()
    (copy / "metrics.json").unlink()  # a run that did not finish is checked by its first epochs
    code, out, err = verify(copy)
    assert code == 2 and "did not finish (no metrics.json)" in err and "--epochs K" in err
    code, out, _ = verify(copy, "--epochs", 2)
    assert code == 0, out
    assert "(the TensorBoard events (float32)) match the re-run bit for bit" in out


def test_an_edited_config_does_not_reproduce(copy):
    path = copy / ".hydra" / "config.yaml"
    text = path.read_text()
    assert "  lr: 0.001\n" in text
    path.write_text(text.replace("  lr: 0.001\n", "  lr: 0.002\n"))
    code, out, _ = verify(copy)
    assert code == 1 and "not verified" in out and "val/loss" in out


def test_a_config_that_names_foreign_code_is_refused_unless_allowed(copy):
    path = copy / ".hydra" / "config.yaml"
    text = path.read_text()
    path.write_text(text.replace("_target_: nnml.models.mlp.MLP", "_target_: os.system", 1))
    code, out, err = verify(copy)
    assert code == 2 and not out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "os.system" in lines[0]
