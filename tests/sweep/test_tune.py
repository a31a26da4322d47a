"""nnml tune: 8 trials over learning rate and weight decay with pruning, a best config that retrains to the same
metric, resuming a study after the process is killed, bad input."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import cli, run_cli

TINY = ["trainer.num_threads=1", "trainer.device=cpu"]


def _study(study_dir: Path, name: str = "lr_wd"):
    import optuna

    return optuna.load_study(study_name=name, storage=f"sqlite:///{study_dir / 'study.db'}")


def test_tune_prunes_bad_trials_and_best_config_reproduces(tmp_path):
    # Learning rates down to 1e-6 learn almost nothing in 3 epochs: those trials fall behind and get pruned.
    args = ["tune", "--trials", "8", "--sampler", "random", "--seed", "1", "--startup-trials", "2",
            "search.optimizer.lr.low=1e-6", "trainer.max_epochs=3", *TINY]
    proc = cli(args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Each trial's epochs while it runs (piped: a line per epoch here, 3 epochs), before its result line
    assert "  trial   0  epoch 1/3  val/acc" in proc.stderr and "  trial   0  epoch 3/3" in proc.stderr
    study_dir = tmp_path / "outputs" / "tune" / "lr_wd"
    study = _study(study_dir)
    states = [t.state.name for t in study.trials]
    assert len(states) == 8 and "FAIL" not in states
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned, states
    # Oracle for each pruning: its reported value was below the median of the trials completed before it.
    for t in pruned:
        step, value = max(t.intermediate_values.items())
        before = [c.intermediate_values[step] for c in study.trials
                  if c.state.name == "COMPLETE" and c.number < t.number and step in c.intermediate_values]
        assert len(before) >= 2 and value < statistics.median(before)
        m = json.loads((study_dir / f"trial_{t.number:04d}" / "metrics.json").read_text())
        assert m["stop_reason"].startswith("pruned") and m["epochs"] == step < 3
    assert all(set(t.params) == {"optimizer.lr", "optimizer.weight_decay"} for t in study.trials)
    assert min(t.params["optimizer.lr"] for t in study.trials) < 1e-4  # the designed bad trials happened
    for name in ("best.yaml", "history.png", "importance.png", "summary.csv"):
        assert (study_dir / name).is_file(), name
    assert "Study lr_wd: " in proc.stdout and "pruned" in proc.stdout

    # best.yaml is a primary config: retraining it reproduces the best trial's validation metric.
    best = study.best_trial
    best_metrics = json.loads((study_dir / f"trial_{best.number:04d}" / "metrics.json").read_text())
    assert best.value == best_metrics["val/acc"]
    again = cli(["train", "-cd", str(study_dir), "-cn", "best"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    runs = sorted((tmp_path / "outputs" / "train" / "runs").iterdir())
    assert len(runs) == 1  # nnml's own run-folder naming, not Hydra's outputs/<date>/<time>
    retrained = json.loads((runs[0] / "metrics.json").read_text())
    assert retrained["val/acc"] == pytest.approx(best.value, abs=1e-9)
    assert retrained["test/acc"] == pytest.approx(best_metrics["test/acc"], abs=1e-9)

    # nnml eval works on a trial folder and gives the trial's own test metric.
    ev = cli(["eval", str(study_dir / f"trial_{best.number:04d}"), "--json"], cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr[-2000:]
    assert json.loads(ev.stdout)["test/acc"] == pytest.approx(best_metrics["test/acc"], abs=1e-9)


def _count(db: Path, state: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("select count(*) from trials where state = ?", (state,)).fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_tune_resumes_after_sigkill(tmp_path):
    args = [sys.executable, "-m", "nnml", "tune", "--trials", "8", "--pruner", "none", "--sampler", "random",
            "trainer.max_epochs=6", *TINY]
    study_dir = tmp_path / "outputs" / "tune" / "lr_wd"
    db = study_dir / "study.db"
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while _count(db, "COMPLETE") < 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = _study(study_dir)
    done_before = {t.number: t for t in first.trials if t.state.name == "COMPLETE"}
    assert 3 <= len(done_before) < 8
    running = [t for t in first.trials if t.state.name == "RUNNING"]
    stamps = {n: (study_dir / f"trial_{n:04d}" / "metrics.json").stat().st_mtime_ns for n in done_before}

    again = run_cli(args[3:], cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(done_before)} trials finished, {8 - len(done_before)} to run" in again.stdout
    study = _study(study_dir)
    for n, t in done_before.items():  # finished trials were not run again
        assert study.trials[n].state.name == "COMPLETE" and study.trials[n].value == t.value
        assert (study_dir / f"trial_{n:04d}" / "metrics.json").stat().st_mtime_ns == stamps[n]
    interrupted = set(study.user_attrs.get("interrupted", []))
    assert interrupted == {t.number for t in running}
    counted = [t for t in study.trials if t.number not in interrupted]
    assert len(counted) == 8 and all(t.state.name == "COMPLETE" for t in counted)
    for t in running:  # the point a killed trial was trying is tried again
        assert study.trials[t.number].state.name == "FAIL"
        if len(t.params) == 2:  # killed after both values of search=lr_wd were drawn (not between ask and suggest)
            assert any(u.params == t.params for u in counted if u.number > t.number)


@pytest.mark.slow
def test_tune_parallel_jobs(tmp_path):
    proc = cli(["tune", "--trials", "4", "--jobs", "2", "--pruner", "median", "--startup-trials", "1",
                    "--study-name", "par", "trainer.max_epochs=2", "trainer.device=cpu"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = _study(tmp_path / "outputs" / "tune" / "par", "par")
    assert len(study.trials) == 4 and all(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)
    for t in study.trials:
        m = json.loads((tmp_path / "outputs" / "tune" / "par" / f"trial_{t.number:04d}" / "metrics.json").read_text())
        assert m["epochs"] >= 1
        if t.state.name == "COMPLETE":
            assert t.value == m["val/acc"]


def test_tune_bad_input_one_line(workdir):
    from typer.testing import CliRunner

    from nnml.cli import app

    cases = [
        (["tune", "search=nope"], "search=nope is not valid"),
        (["tune", "search.optimizer.lrr={type:float,low:1,high:2}"], "search.optimizer.lrr: the config has no key"),
        (["tune", "search.optimizer.lr.low=0"], "log: true needs low > 0"),
        (["tune", "search.optimizer.lr.type=floot"], "search.optimizer.lr.type=floot is not valid (did you mean 'float'?)"),
        (["tune", "--sampler", "grid"], "--sampler grid needs a finite set"),
        (["tune", "--metric", "test/acc"], "tune on a validation metric"),
        (["tune", "optimizer=adamz"], "adamz"),
        (["tune", "--repeats", "0"], "--repeats 0: give at least 1"),
        (["tune", "--repeats", "2", "seed=3"], "--repeats K trains each trial with seed=0..K-1; drop the seed="),
    ]
    for args, expected in cases:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert not (workdir / "outputs" / "tune" / "lr_wd" / "trial_0000").exists()


def _tune(args: list[str]):
    from typer.testing import CliRunner

    from nnml.cli import app

    return CliRunner().invoke(app, ["tune", *args, "trainer.max_epochs=1", *TINY])


def test_tune_failed_trial_is_reported_and_the_study_goes_on(workdir):
    # Grid over two learning rates: SGD at lr 1e6 diverges (non-finite loss), lr 0.05 trains.
    result = _tune(["--sampler", "grid", "--study-name", "mixed", "~search.optimizer.weight_decay",
                    "search.optimizer.lr={type:categorical,choices:[1000000.0,0.05]}", "optimizer=sgd"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    study = _study(workdir / "outputs" / "tune" / "mixed", "mixed")
    by_lr = {t.params["optimizer.lr"]: t for t in study.trials}
    assert by_lr[1e6].state.name == "FAIL" and by_lr[0.05].state.name == "COMPLETE"
    bad = by_lr[1e6].number
    assert f"trial {bad:>3}  optimizer.lr=1e+06  failed: NonFiniteLoss" in result.output
    assert "1 complete, 0 pruned, 1 failed" in result.output
    assert (workdir / "outputs" / "tune" / "mixed" / f"trial_{bad:04d}" / "error.txt").is_file()

    # Every trial failing: the same lines, then one error line and exit 1.
    result = _tune(["--trials", "1", "--study-name", "allbad", "search.optimizer.lr.low=1e5",
                    "search.optimizer.lr.high=1e6", "optimizer=sgd"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "failed: NonFiniteLoss" in result.output
    assert "no trial completed" in result.output


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_continued_study_draws_new_points_and_fresh_study_is_reproducible(workdir, sampler):
    first = _tune(["--trials", "2", "--sampler", sampler, "--pruner", "none", "--study-name", "a"])
    assert first.exit_code == 0, first.output
    more = _tune(["--trials", "3", "--sampler", sampler, "--pruner", "none", "--study-name", "a"])
    assert more.exit_code == 0, more.output
    twin = _tune(["--trials", "2", "--sampler", sampler, "--pruner", "none", "--study-name", "b"])
    assert twin.exit_code == 0, twin.output
    points = [tuple(sorted(t.params.items())) for t in _study(workdir / "outputs" / "tune" / "a", "a").trials]
    assert len(points) == 3 and len(set(points)) == 3, points  # the continuation did not repeat trial 0 or 1
    twins = [tuple(sorted(t.params.items())) for t in _study(workdir / "outputs" / "tune" / "b", "b").trials]
    assert twins == points[:2]  # same seed, new study: the same first draws


def test_tune_bad_training_override_and_metric_one_line(workdir):
    from typer.testing import CliRunner

    from nnml.cli import app

    cases = [
        (["tune", "trainer.max_epoch=1"], "trainer.max_epoch=1: no such config key or group (did you mean "
                                          "'trainer.max_epochs'?)"),
        (["tune", "optimizer=adamm"], "optimizer=adamm is not valid (did you mean 'adam'?)"),
        (["tune", "trainer.max_epochs=abc"], "trainer.max_epochs='abc' is not valid"),
        (["tune", "--metric", "val/r2"], "--metric val/r2 is not a validation metric of this classification task"),
    ]
    for args, expected in cases:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.output, (args, result.output)
        assert "Could not" not in result.output and "Traceback" not in result.output
    assert not (workdir / "outputs" / "tune" / "lr_wd").exists()  # refused before the study was created

    # An existing study and a misspelled --metric: the metric is named, not the (unchanged) overrides.
    assert _tune(["--trials", "1", "--study-name", "m"]).exit_code == 0
    result = _tune(["--trials", "1", "--study-name", "m", "--metric", "val/accx"])
    assert result.exit_code == 2, result.output
    assert "--metric val/accx is not a validation metric" in result.output and "(did you mean 'val/acc'?)" in result.output
    assert "started with other" not in result.output


def test_tune_repeats_scores_the_mean_of_seeds_and_says_if_the_best_stands_out(workdir):
    """--repeats 3: each trial trains seeds 0, 1, 2 on one split; Optuna is told the mean of their val/acc; the
    leaderboard is one row per trial (n = 3) with Welch + Holm against the best trial (scipy, statsmodels)."""
    import csv

    import numpy as np
    import scipy.stats as ss
    from statsmodels.stats.multitest import multipletests

    r = _tune(["--trials", "3", "--repeats", "3", "--sampler", "random", "--seed", "3", "--pruner", "none",
               "search.optimizer.lr.low=1e-5"])
    assert r.exit_code == 0, r.output
    study_dir = workdir / "outputs" / "tune" / "lr_wd"
    study = _study(study_dir)
    acc = {}
    for t in study.trials:
        folders = sorted((study_dir / f"trial_{t.number:04d}").glob("seed=*"))
        assert [p.name for p in folders] == ["seed=0", "seed=1", "seed=2"]
        metrics = [json.loads((p / "metrics.json").read_text()) for p in folders]
        configs = [(p / ".hydra" / "config.yaml").read_text() for p in folders]
        assert [f"seed: {i}" in c for i, c in enumerate(configs)] == [True] * 3
        assert len({c.split("data_seed:")[1].split()[0] for c in configs}) == 1  # one split for every seed
        acc[t.number] = [m["val/acc"] for m in metrics]
        assert t.value == pytest.approx(np.mean(acc[t.number]), rel=1e-12)
    with open(study_dir / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and {row["n"] for row in rows} == {"3"}
    number = {row["rank"]: int(row["runs"].split("/")[0].split("_")[1]) for row in rows}
    best = number["1"]
    assert best == study.best_trial.number
    others = [number[row["rank"]] for row in rows[1:]]
    p_holm = multipletests([ss.ttest_ind(acc[o], acc[best], equal_var=False).pvalue for o in others],
                           method="holm")[1]
    for row, p in zip(rows[1:], p_holm):
        assert float(row["val/acc_mean"]) == pytest.approx(np.mean(acc[number[row["rank"]]]), rel=1e-12)
        assert float(row["val/acc_p_holm"]) == pytest.approx(p, rel=1e-9)
        assert row["val/acc_vs_best"] == ("indistinguishable" if p >= 0.05 else "worse")
    stands = all(p < 0.05 for p in p_holm)
    assert (f"best trial {best} (mean val/acc" in r.output
            and ("stands out" in r.output) == stands and ("does not stand out" in r.output) == (not stands))
    assert "(mean of 3 seeds)" in r.output
    assert "the mean of its 3 seeds; this is its seed 0" in (study_dir / "best.yaml").read_text()
