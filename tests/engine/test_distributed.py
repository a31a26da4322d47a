"""DistributedDataParallel on CPU with gloo and 2 processes (what CI's 2 cores allow).

Oracle: a single-process run with the same global batch. With ``dataset.batch_size`` per process (the PyTorch
convention), 2 ranks x 64 see, at every step, exactly the samples that 1 process x 128 sees (rank r takes every
second sample of the same epoch permutation), and DDP averages their gradients, so without dropout the two runs
differ only by float rounding.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from tests.conftest import ROOT, TINY, assert_records_reproduce_metrics, read_metrics, run_cli, run_dirs

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="needs torch.distributed with gloo")

COMMON = [*TINY, "model.dropout=0", "logger=none"]


def close(a: dict, b: dict, keys, tol: float):
    return {k: (a[k], b[k]) for k in keys if abs(a[k] - b[k]) > tol}


def test_two_ranks_match_one_process_with_the_same_global_batch(tmp_path):
    single_root, ddp_root = tmp_path / "single", tmp_path / "ddp"
    single_root.mkdir()
    ddp_root.mkdir()
    r1 = run_cli(["train", *COMMON, "dataset.batch_size=128"], cwd=single_root)
    assert r1.returncode == 0, r1.stderr
    r2 = run_cli(["train", *COMMON, "dataset.batch_size=64", "trainer.devices=2"], cwd=ddp_root)
    assert r2.returncode == 0, r2.stderr
    dirs = run_dirs(ddp_root)
    assert len(dirs) == 1, dirs  # one run folder whatever the ranks
    run = dirs[0]
    assert (run / "train.log").is_file() and (run / "train_rank1.log").is_file()
    assert (run / "checkpoints" / "last.pt").is_file()
    single, ddp = read_metrics(run_dirs(single_root)[0]), read_metrics(run)
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    keys = ["train/loss", "val/loss", "test/loss", "train/acc", "val/acc", "test/acc"]
    assert not close(single, ddp, keys, 2e-3), close(single, ddp, keys, 2e-3)
    # Both saw all 1258 training samples per epoch (1258 is even, so no sample was dropped to equalize shards).
    assert ddp["epochs"] == single["epochs"] == 2
    # Each rank recorded its shard of val and test (every second sample); rank 0 wrote them joined in split order:
    # every sample once, the metrics recomputed from them equal the all-reduced ones.
    import numpy as np

    records = assert_records_reproduce_metrics(run)
    alone = assert_records_reproduce_metrics(run_dirs(single_root)[0])
    for split in ("val", "test"):
        index = records[split][0]["index"]
        assert np.array_equal(index, np.arange(len(alone[split][0]["index"]))), split
        assert np.array_equal(records[split][0]["target"], alone[split][0]["target"]), split


WORKER = textwrap.dedent("""
    import sys, torch
    sys.path.insert(0, {root!r})
    import nnml.config.resolvers  # noqa: F401
    from hydra import compose, initialize_config_dir
    from nnml.config import config_dir
    from nnml.engine.callbacks import Callback
    from nnml.run.launch import run_train

    class SaveParams(Callback):
        def on_fit_end(self, state):
            rank = torch.distributed.get_rank()
            model = state.info["model_ref"]
            torch.save({{k: v.detach().clone() for k, v in model.state_dict().items()}}, {out!r} + f"/rank{{rank}}.pt")

    from pathlib import Path
    from nnml.config.targets import Trust
    from nnml.run.train import RunContext

    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("train", overrides={overrides!r})
    run_train(cfg, RunContext(run_dir=Path({run_dir!r}), trust=Trust.own(cfg)), callbacks=[SaveParams()], quiet=True)
""")


def test_both_ranks_end_with_identical_parameters(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    script = tmp_path / "worker.py"
    overrides = [*TINY, "trainer.max_epochs=1", "dataset.batch_size=32", "logger=none"]  # dropout on: ranks differ
    script.write_text(WORKER.format(root=str(ROOT), out=str(tmp_path), overrides=overrides, run_dir=str(run_dir)))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    p0, p1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert p0.keys() == p1.keys()
    for k in p0:
        assert torch.equal(p0[k], p1[k]), k
    assert (run_dir / "metrics.json").is_file()


def test_torchrun_by_hand_writes_one_run_folder(tmp_path):
    """``torchrun -m nnml train`` without hydra.run.dir: each rank resolves its own folder; rank 1 moves into
    rank 0's and removes its own."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "-m", "nnml", "train", *COMMON, "trainer.max_epochs=1", "dataset.batch_size=64"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    dirs = run_dirs(tmp_path)
    assert len(dirs) == 1, dirs
    assert read_metrics(dirs[0])["world_size"] == 2
    assert (dirs[0] / "train_rank1.log").is_file()


def test_multi_node_without_endpoint_is_one_clear_line(tmp_path):
    r = run_cli(["train", *COMMON, "trainer.num_nodes=2"], cwd=tmp_path)
    assert r.returncode != 0
    assert "trainer.rdzv_endpoint" in r.stderr and "Traceback" not in r.stderr


def test_torchrun_command_lines(tmp_path, monkeypatch):
    """What each node runs: standalone on one machine; the rendezvous settings (given, or read from SLURM) for more."""
    from nnml.run.launch import torchrun_args
    from tests.conftest import compose

    run = tmp_path / "2026-01-01_00-00-00"
    one = torchrun_args(compose(["trainer.devices=4"]), run)
    assert one == ["--nproc_per_node=4", "--standalone"]
    two = torchrun_args(compose(["trainer.devices=8", "trainer.num_nodes=2", "trainer.node_rank=1",
                                 "trainer.rdzv_endpoint=node0:29400"]), run)
    assert two == ["--nproc_per_node=8", "--nnodes=2", "--rdzv_backend=c10d", "--rdzv_endpoint=node0:29400",
                   f"--rdzv_id={run.name}", "--node_rank=1"]
    # Inside a SLURM allocation: a fake scontrol expands the node list.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text("#!/bin/sh\necho gpu-a01\necho gpu-a02\n")
    (bin_dir / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_NODELIST", "gpu-a[01-02]")
    monkeypatch.setenv("SLURM_JOB_ID", "777")
    monkeypatch.setenv("SLURM_NODEID", "1")
    slurm = torchrun_args(compose(["trainer.devices=4", "trainer.num_nodes=2"]), run)
    assert slurm == ["--nproc_per_node=4", "--nnodes=2", "--rdzv_backend=c10d", "--rdzv_endpoint=gpu-a01:29400",
                     "--rdzv_id=slurm-777", "--node_rank=1"]
