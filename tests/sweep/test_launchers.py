"""Launchers: parallel (joblib) jobs get cores / parallel jobs torch threads; submitit's local launcher runs a sweep."""

from __future__ import annotations

import csv
import re

import pytest

from tests.conftest import run_cli


def _threads(sweep) -> list[int]:
    return [int(re.search(r"(\d+) threads?\b", (job / "train.log").read_text()).group(1))
            for job in sorted(sweep.iterdir()) if (job / "train.log").is_file()]


@pytest.mark.slow
def test_parallel_launcher_splits_threads(tmp_path):
    import joblib

    proc = run_cli(["train", "-m", "hydra/launcher=parallel", "trainer.max_epochs=1", "trainer.device=cpu",
                    "optimizer=sgd,adam"], cwd=tmp_path, env={"OMP_NUM_THREADS": "", "NNML_PARALLEL_JOBS": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = next((tmp_path / "outputs" / "train" / "multiruns").iterdir())
    # Oracle: joblib's own rule for its workers, cores // n_jobs (n_jobs=2 in configs/hydra/launcher/parallel.yaml)
    assert _threads(sweep) == [max(1, joblib.cpu_count() // 2)] * 2
    with open(sweep / "jobs.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["ok", "ok"]


@pytest.mark.slow
def test_submitit_local_sweep(tmp_path):
    proc = run_cli(["train", "-m", "hydra/launcher=slurm_local", "trainer.max_epochs=1", "trainer.device=cpu",
                    "optimizer=sgd,adam"], cwd=tmp_path, env={"NNML_PARALLEL_JOBS": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = next((tmp_path / "outputs" / "train" / "multiruns").iterdir())
    assert (sweep / ".submitit").is_dir()
    with open(sweep / "jobs.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["optimizer"] for r in rows) == ["adam", "sgd"] and all(r["status"] == "ok" for r in rows)
    # Two jobs at once on this machine: each gets its share of the cores
    from nnml.engine.device import usable_cores

    assert _threads(sweep) == [max(1, usable_cores() // 2)] * 2


def test_slurm_launcher_config_keys(tmp_path):
    proc = run_cli(["train", "hydra/launcher=slurm", "hydra.launcher.partition=gpu", "--cfg", "hydra", "-p",
                    "hydra.launcher"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    for line in ("partition: gpu", "gpus_per_node: 1", "timeout_min: 60", "mem_gb: 16", "cpus_per_task: 4",
                 "_target_: hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"):
        assert line in text, line
