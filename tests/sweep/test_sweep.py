"""Multiruns: seven optimizers in one sweep, folder names, the summary table, the same TensorBoard keys in every job,
a failed job, grid/range/glob sweeps."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from tests.conftest import TINY, cli

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]


def _jobs(sweep: Path) -> list[Path]:
    return sorted(p for p in sweep.iterdir() if (p / ".hydra").is_dir())


def _summary(sweep: Path, name: str = "summary.csv") -> list[dict]:
    with open(sweep / name, newline="") as f:
        return list(csv.DictReader(f))


def test_seven_optimizer_sweep_folders_named_by_overrides(seven_sweep):
    _, sweep = seven_sweep
    jobs = _jobs(sweep)
    assert len(jobs) == 7
    names = sorted(p.name for p in jobs)
    # Only what the sweep varies names a job (TensorBoard's run names): the constant +note=a/b is left out
    assert names == sorted(f"optimizer={opt}" for opt in OPTIMIZERS), names
    assert not (sweep / "+note=a").exists()
    for job in jobs:
        cfg = (job / ".hydra" / "config.yaml").read_text()
        assert "note: a/b" in cfg
        assert (job / "metrics.json").is_file()


def test_seven_optimizer_summary_ranks_by_val_metric(seven_sweep):
    proc, sweep = seven_sweep
    rows = _summary(sweep)
    assert len(rows) == 7
    assert {r["optimizer"] for r in rows} == set(OPTIMIZERS)
    # Oracle: each job's own metrics.json; best val/acc first, ties broken by the lower val/loss.
    truth = {}
    for job in _jobs(sweep):
        m = json.loads((job / "metrics.json").read_text())
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        opt = next(o.split("=", 1)[1] for o in overrides if o.startswith("optimizer="))
        truth[opt] = m
    expected = sorted(truth, key=lambda o: (-truth[o]["val/acc"], truth[o]["val/loss"]))
    assert [r["optimizer"] for r in rows] == expected
    for r in rows:  # one run per optimizer: its mean is its value, no spread, no interval, no test
        assert float(r["val/acc_mean"]) == truth[r["optimizer"]]["val/acc"]
        assert float(r["test/acc_mean"]) == truth[r["optimizer"]]["test/acc"]
        assert r["n"] == "1" and r["val/acc_std"] == r["val/acc_ci_low"] == ""
        assert r["val/acc_vs_best"] in ("best", "untested")
    jobs = _summary(sweep, "jobs.csv")  # one row per job, as before seeds were aggregated
    assert [r["optimizer"] for r in jobs] == expected and all(r["status"] == "ok" for r in jobs)
    # Only what differs is a column: optimizer, and lr / weight decay (sgd family 0.01, adam family 0.001, adamw wd)
    assert "optimizer.lr" in rows[0] and "optimizer.weight_decay" in rows[0]
    assert "note" not in rows[0] and "trainer.max_epochs" not in rows[0] and "seed" not in rows[0]
    md = (sweep / "summary.md").read_text()
    assert md.count("\n") == 9 and "| rank | optimizer |" in md
    # The table is printed at the end of the run
    assert "Sweep of 7 jobs" in proc.stdout and proc.stdout.rstrip().splitlines()[-1].startswith("summary:")


def _hparams_content(folder: Path) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return acc.PluginTagToContent("hparams"), acc.Tags()["scalars"]


def _hparams_keys(job: Path) -> tuple[set, set]:
    """(hparam names, metric tags) of the job's HParams session as TensorBoard's event reader gives them."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    content, scalars = _hparams_content(job)
    # a job of a sweep writes no experiment: TensorBoard would take any job's, the sweep writes the one
    assert "_hparams_/experiment" not in content
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    return set(start.hparams), {t for t in scalars if t.startswith("hparam/")}


def test_seven_jobs_log_same_hparam_and_metric_keys(seven_sweep):
    from tensorboard.plugins.hparams import plugin_data_pb2

    from nnml.sweep import runs as R

    _, sweep = seven_sweep
    keys = [_hparams_keys(job) for job in _jobs(sweep)]
    assert len(keys) == 7
    hp0, met0 = keys[0]
    assert all(hp == hp0 for hp, _ in keys) and all(m == met0 for _, m in keys)
    assert {"optimizer", "optimizer.lr", "optimizer.weight_decay", "note", "seed"} <= hp0
    assert {"hparam/val/acc", "hparam/test/acc", "hparam/train/loss"} <= met0
    # The sweep's own experiment (its folder's event file): exactly the keys that differ between the jobs, read
    # from their saved configs, the swept one first; the monitored metric leads the metrics
    content, _ = _hparams_content(sweep)
    exp = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    names = [h.name for h in exp.hparam_infos]
    assert names == R.differing_keys(R.load_runs([sweep])) == ["optimizer", "optimizer.lr", "optimizer.weight_decay"]
    assert all(h.differs for h in exp.hparam_infos)
    assert [m.name.tag for m in exp.metric_infos][:2] == ["hparam/val/acc", "hparam/test/acc"]


def test_job_names_keep_only_the_varied_values_as_typed():
    from nnml.config.resolvers import safe_name

    varies = {"optimizer.lr": {"10000000000.0": "1e10", "0.001": "1e-3"}, "model.hidden": {}}
    assert safe_name("experiment=x,model.hidden=[64,64],optimizer.lr=10000000000.0", varies) == \
        "model.hidden=[64,64],optimizer.lr=1e10"
    assert safe_name("+note=a/b,optimizer.lr=0.001", varies) == "optimizer.lr=1e-3"
    assert safe_name("+note=a/b,optimizer=sgd") == "+note=a_b,optimizer=sgd"


def test_failed_job_is_marked_and_exit_code_is_one(tmp_path):
    proc = cli(["train", "-m", *TINY, "trainer.max_epochs=1", "optimizer=sgd", "optimizer.lr=0.05,1e12"],
                   cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "1 of 2 sweep jobs failed" in proc.stderr
    sweep = next((tmp_path / "outputs" / "train" / "multiruns").iterdir())
    assert {p.name for p in _jobs(sweep)} == {"optimizer.lr=0.05", "optimizer.lr=1e12"}  # as typed
    assert "optimizer.lr=1e11" in proc.stderr  # the hint in the same notation
    rows = {r["optimizer.lr"]: r for r in _summary(sweep, "jobs.csv")}
    assert rows["1000000000000.0"]["status"] == "failed" and "non-finite" in rows["1000000000000.0"]["error"]
    assert rows["0.05"]["status"] == "ok" and float(rows["0.05"]["val/acc"]) > 0.2
    assert [r["rank"] for r in _summary(sweep, "jobs.csv")] == ["1", "2"]
    # the configurations' table holds the finished one; the failed job is named below it
    assert [(r["optimizer.lr"], r["n"]) for r in _summary(sweep)] == [("0.05", "1")]
    assert "failed optimizer.lr=1e12" in proc.stdout


def test_grid_and_range_sweep(tmp_path):
    proc = cli(["train", "-m", *TINY, "optimizer.lr=1e-3,1e-2", "model.hidden=[8],[16]",
                    "trainer.max_epochs=range(1,3)"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sweep = next((tmp_path / "outputs" / "train" / "multiruns").iterdir())
    rows = _summary(sweep)
    assert len(rows) == 8
    combos = {(r["optimizer.lr"], r["model.hidden"], r["trainer.max_epochs"]) for r in rows}
    assert combos == {(lr, h, e) for lr in ("0.001", "0.01") for h in ("[8]", "[16]") for e in ("1", "2")}
    for r in rows:
        m = json.loads((sweep / r["runs"] / "metrics.json").read_text())
        assert m["epochs"] == int(r["trainer.max_epochs"])


def test_glob_over_experiments(tmp_path):
    from nnml.config.catalog import options

    # The supervised presets of lecture 1 and homework 1's basics (the homework tracks' presets train other tasks
    # for minutes and are run by their own tests); the MNIST one downloads its data, so glob's exclude drops it.
    supervised = ["compare_optimizers", "diabetes_regression", "digits_cnn", "mnist_mlp", "moons_tanh"]
    assert set(supervised) <= set(options("experiment"))
    proc = cli(["train", "-m", *TINY, "trainer.max_epochs=1",
                    f"experiment=glob([{','.join(supervised)}],exclude=mnist*)"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    jobs = [p for p in (tmp_path / "outputs").rglob("metrics.json")]
    offline = [o for o in supervised if not o.startswith("mnist")]
    assert len(jobs) == len(offline) >= 1
