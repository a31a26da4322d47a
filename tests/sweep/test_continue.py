"""Sweeps that finish: the same ``nnml train -m`` command (or ``--continue``) keeps the jobs that finished byte for
byte, runs failed ones again, refuses a job whose config changed; the console prints one line per job.

The oracles: each file's sha256 before and after, and the numbers of the same job trained in one go."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import TINY, cli

SWEEP = ["train", "-m", "optimizer=sgd,adam", *TINY, "hydra.sweep.dir=sweep"]


def hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (hidden ones too), by relative path."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def summary_rows(sweep: Path) -> dict[str, dict]:
    """The sweep's rows, one per job (jobs.csv; summary.csv has one per configuration)."""
    with open(sweep / "jobs.csv", newline="") as f:
        return {r["run"]: r for r in csv.DictReader(f)}


def metrics(job: Path) -> dict:
    return json.loads((job / "metrics.json").read_text())


def results(m: dict) -> dict:
    return {k: v for k, v in m.items() if k.split("/")[0] in ("train", "val", "test") or k in ("epochs", "best_epoch")}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """(folder the command ran in, the sweep folder) of a two-job sweep that finished."""
    root = tmp_path_factory.mktemp("finished")
    proc = cli(SWEEP, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, root / "sweep"


def copy_of(finished, tmp_path) -> tuple[Path, Path]:
    """A copy of the finished sweep (same command, same folder layout) that a test may change."""
    root, _ = finished
    shutil.copytree(root, tmp_path / "run", symlinks=True)
    return tmp_path / "run", tmp_path / "run" / "sweep"


def test_the_same_command_again_keeps_finished_jobs_byte_for_byte(finished, tmp_path):
    root, sweep = copy_of(finished, tmp_path)
    jobs = {j: hashes(sweep / j) for j in ("optimizer=sgd", "optimizer=adam")}
    proc = cli(SWEEP, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for job, before in jobs.items():
        assert hashes(sweep / job) == before, job
    kept = [line for line in proc.stdout.splitlines() if "kept (finished before)" in line]
    assert sorted(line.split()[0] for line in kept) == ["optimizer=adam", "optimizer=sgd"]
    assert "2 finished (kept as they are)" in proc.stderr
    rows = summary_rows(sweep)
    assert {r: rows[r]["status"] for r in rows} == {"optimizer=adam": "ok", "optimizer=sgd": "ok"}
    assert float(rows["optimizer=adam"]["val/acc"]) == metrics(sweep / "optimizer=adam")["val/acc"]
    manifest = json.loads((sweep / "sweep.json").read_text())
    assert [r["typed"] for r in manifest["runs"]] == [["nnml", *SWEEP]] * 2


def test_changed_config_is_refused_in_one_line_and_nothing_is_written(finished, tmp_path):
    root, sweep = copy_of(finished, tmp_path)
    before = hashes(sweep)
    proc = cli([*SWEEP, "trainer.max_epochs=3"], cwd=root)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "trainer.max_epochs=3 (trained with 2)" in lines[0] and "nnml train -m --continue" in lines[0]
    assert hashes(sweep) == before


def test_a_sweep_over_other_keys_is_refused(finished, tmp_path):
    root, sweep = copy_of(finished, tmp_path)
    before = hashes(sweep)
    proc = cli([*SWEEP, "seed=0,1"], cwd=root)
    assert proc.returncode == 2, proc.stderr
    assert "holds a sweep over optimizer; this command sweeps optimizer, seed" in proc.stderr
    assert hashes(sweep) == before


def test_continue_runs_a_failed_job_again_and_keeps_its_attempt(finished, tmp_path):
    root, sweep = copy_of(finished, tmp_path)
    adam, sgd = sweep / "optimizer=adam", sweep / "optimizer=sgd"
    want = results(metrics(adam))
    (adam / "metrics.json").unlink()
    (adam / "error.txt").write_text("RuntimeError: boom\n")
    kept = hashes(sgd)
    proc = cli(["train", "--continue", "sweep"], cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert hashes(sgd) == kept
    assert results(metrics(adam)) == want  # the same job trained again: the same numbers
    assert not (adam / "error.txt").exists()
    assert (adam / ".failed-1" / "error.txt").read_text() == "RuntimeError: boom\n"
    assert (adam / ".failed-1" / "checkpoints" / "last.pt").is_file()
    assert "1 failed (run again)" in proc.stderr
    assert "optimizer=adam" in proc.stdout and "ran again after a failed attempt" in proc.stdout


def test_continue_of_a_folder_that_is_no_sweep_is_one_line(tmp_path):
    proc = cli(["train", "-m", "--continue", "nowhere"], cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --continue nowhere: no such folder; give the folder of a sweep of nnml train -m "
        "(outputs/<task>/multiruns/<time>)"]


def test_a_sweep_prints_one_line_per_job_and_logs_every_epoch(seven_sweep):
    proc, sweep = seven_sweep
    out = proc.stdout.splitlines()
    job_lines = [line for line in out if line.split(" ", 1)[0].startswith("optimizer=")]
    assert len(job_lines) == 7 and all(line.endswith("  ok") for line in job_lines)
    assert not [line for line in out if line.startswith("epoch ")]
    assert len(out) <= 7 + 20  # the job lines, the table, its footer (a sweep of 7 printed 407 lines before)
    for job in sweep.iterdir():
        if job.is_dir():
            log = (job / "train.log").read_text()
            assert "epoch 1/2" in log and "epoch 2/2" in log and "test " in log and "split" in log


def test_verbose_brings_the_epoch_lines_back(tmp_path):
    proc = cli(["train", "-m", "-v", "optimizer=sgd,adam", *TINY, "trainer.max_epochs=1"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sum(line.startswith("epoch 1/1") for line in proc.stdout.splitlines()) == 2
    assert "Launching 2 jobs locally" in proc.stdout  # Hydra's own lines too


@pytest.mark.slow
def test_preset_sweep_continues(tmp_path):
    """experiment=compare_optimizers: the jobs come from the preset's sweeper params (one seed of its five)."""
    args = ["train", "-m", "experiment=compare_optimizers", "seed=0", *TINY, "trainer.max_epochs=1",
            "hydra.sweep.dir=s"]
    first = cli(args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    sweep = tmp_path / "s"
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 7 and "optimizer_preset=adamw" in jobs
    sgd = sweep / "optimizer_preset=sgd"
    want = results(metrics(sgd))
    (sgd / "metrics.json").unlink()  # as if killed after its last checkpoint, before its result was written
    others = {j: hashes(sweep / j) for j in jobs if j != sgd.name}
    again = cli(args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "7 jobs, 6 finished (kept as they are), 1 interrupted (resume from their last checkpoint)" in again.stderr
    assert {j: hashes(sweep / j) for j in others} == others
    assert results(metrics(sgd)) == want
    assert len(summary_rows(sweep)) == 7
