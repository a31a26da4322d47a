"""A GAN killed mid-run (SIGKILL) and resumed ends bit-identical to the same run left alone: every tensor of both
networks, both optimizers and schedulers, the EMA copy and the fixed noise; the same metrics.

The oracle is the uninterrupted run (dropout in the discriminator and batch norm in the generator, so the RNG
state and the buffers matter; n_critic=2, so the generator's steps depend on the restored step counter)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import cli, read_metrics, run_cli, run_dirs

pytestmark = pytest.mark.slow

EPOCHS = 5
ARGS = ["train", "task=gan", "model=gan_mlp", "optimizer=gan_adam", "scheduler=gan_cosine", "dataset.standardize=unit",
        "dataset.batch_size=64", "model.generator.hidden=[32]", "model.discriminator.hidden=[32]",
        "model.discriminator.dropout=0.2", "model.generator.latent_dim=8", "optimizer.generator.lr=0.0005",
        "task.ema_decay=0.9", "task.n_critic=2", "task.feature_net=identity", "task.fd_samples=100",
        "task.every_n_epochs=0", "task.grid_samples=8", f"trainer.max_epochs={EPOCHS}",
        "trainer.checkpoint_every_n_epochs=1", "trainer.num_threads=1", "trainer.device=cpu", "logger=none"]


def _ok(r):
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r


def _flat(prefix, obj, out):
    """Every tensor (and plain value) of a nested checkpoint entry, by path."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flat(f"{prefix}/{k}", v, out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _flat(f"{prefix}/{i}", v, out)
    else:
        out[prefix] = obj
    return out


def test_sigkill_then_resume_is_bit_exact(tmp_path):
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "killed"
    ref_dir.mkdir()
    run_dir.mkdir()
    _ok(run_cli(ARGS, ref_dir))
    (ref,) = run_dirs(ref_dir)

    proc = subprocess.Popen([sys.executable, "-m", "nnml", *ARGS], cwd=run_dir, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300  # against a hang only
    while not list(run_dir.glob("outputs/train/runs/*/checkpoints/last.pt")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    (run,) = run_dirs(run_dir)
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["loop"]["epoch"] < EPOCHS
    _ok(cli(["train", f"resume={run}"], run_dir))

    a = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    b = torch.load(ref / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert set(a["modules"]) == {"generator", "discriminator", "generator_ema"}
    for part in ("modules", "slots", "task"):
        fa, fb = _flat(part, a[part], {}), _flat(part, b[part], {})
        assert fa.keys() == fb.keys(), part
        for k in fb:
            if isinstance(fb[k], torch.Tensor):
                assert torch.equal(fa[k], fb[k]), k
            else:
                assert fa[k] == fb[k], k
    assert a["slots"]["generator"]["optimizer"]["state"] and a["slots"]["discriminator"]["scheduler"]
    ma, mb = read_metrics(run), read_metrics(ref)
    for k in mb:
        if k.startswith(("test/", "val/", "train/")) or k in ("best_epoch", "epochs"):
            assert ma[k] == mb[k], k
