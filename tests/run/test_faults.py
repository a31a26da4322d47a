"""Faults during a run, through the real CLI where they can be made real: a loss that really becomes NaN (huge
learning rates), in a single run, after a checkpoint and inside a sweep; anomaly detection; and, in-process with the
failure injected, out-of-memory and a full disk. Plus the two mechanisms under them: the atomic write and the
signal guard."""

from __future__ import annotations

import errno
import os
import signal

import pytest
import torch

from tests.conftest import cli, read_metrics, run_dirs

FAST = ["trainer.num_threads=1", "trainer.device=cpu", "model.hidden=[32]"]


def test_nan_loss_stops_with_step_epoch_lr_and_advice(workdir):
    r = cli(["train", *FAST, "optimizer=sgd", "optimizer.lr=1e10", "trainer.max_epochs=3"], workdir)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    line = r.stderr.strip()
    assert line.startswith("error: loss became non-finite at step ") and "\n" not in line
    assert "(epoch 1, lr 1e+10)" in line and "optimizer.lr=1e9" in line and "trainer.grad_clip" in line
    assert "no checkpoint was written before it" in line
    (run,) = run_dirs(workdir)
    assert not (run / "metrics.json").exists() and (run / "error.txt").is_file()


def test_nan_after_a_checkpoint_keeps_the_last_good_one(workdir):
    # lr 0.01 -> 1e3 -> 1e8 by epoch: the first epoch is fine and checkpointed, a later one explodes.
    r = cli(["train", *FAST, "optimizer=sgd", "scheduler=exponential", "scheduler.gamma=1e5",
                 "trainer.max_epochs=5", "trainer.checkpoint_every_n_epochs=1"], workdir)
    assert r.returncode == 1, r.stderr
    (run,) = run_dirs(workdir)
    last = run / "checkpoints" / "last.pt"
    assert f"the last good checkpoint {last} is kept" in r.stderr
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["loop"]["epoch"] >= 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())


def test_nan_in_one_sweep_job_lets_the_others_finish(workdir):
    r = cli(["train", "-m", *FAST, "trainer.max_epochs=2", "optimizer=sgd", "optimizer.lr=1e10,0.1"], workdir)
    assert "loss became non-finite" in r.stderr
    jobs = sorted(p for p in (workdir / "outputs" / "train" / "multiruns").glob("*/*") if p.is_dir())
    assert len(jobs) == 2
    failed = [j for j in jobs if (j / "error.txt").exists()]
    finished = [j for j in jobs if (j / "metrics.json").exists()]
    assert len(failed) == 1 and "optimizer.lr=1e10" in failed[0].name  # as typed (issue 16), not 10000000000.0
    assert len(finished) == 1 and read_metrics(finished[0])["epochs"] == 2


@pytest.mark.filterwarnings("ignore:Error detected in")  # anomaly mode's own report, what this test asks for
def test_detect_anomaly_names_the_operation(workdir):
    r = cli(["train", *FAST, "optimizer=sgd", "optimizer.lr=1e10", "trainer.max_epochs=2",
                 "trainer.detect_anomaly=true"], workdir)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Function '") and "returned nan values" in last and "(epoch 1, lr 1e+10)" in last


def test_out_of_memory_names_the_batch_size(train_in_process, monkeypatch):
    from nnml.engine.loop import Trainer

    def oom(self, xb, yb):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(Trainer, "_step", oom)
    result, run = train_in_process("dataset.batch_size=64")
    assert result.exit_code == 1
    text = (run / "error.txt").read_text()
    assert "out of memory on cpu with dataset.batch_size=64" in text and "dataset.batch_size=32" in text


def test_full_disk_is_one_clear_line_and_leaves_no_half_file(train_in_process, monkeypatch):
    import nnml.tracking.runfiles as runfiles

    real_dump = runfiles.json.dump

    def dump_then_fail(obj, f, **kw):
        real_dump(obj, f, **kw)
        raise OSError(errno.ENOSPC, "No space left on device", f.name)

    monkeypatch.setattr(runfiles.json, "dump", dump_then_fail)
    result, run = train_in_process()
    assert result.exit_code == 1
    text = (run / "error.txt").read_text()
    assert "No space left on device" in text and "free disk space" in text and "hydra.run.dir" in text
    assert not (run / "metrics.json").exists()
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_atomic_save_failure_keeps_the_old_file(tmp_path, monkeypatch):
    from nnml.engine import checkpoint
    from nnml.errors import NnmlError

    path = tmp_path / "last.pt"
    checkpoint.atomic_save({"model": {"w": torch.ones(3)}}, path)
    real_save = torch.save

    def torn_save(obj, f):
        real_save(obj, f)
        f.truncate(10)  # half written, then the disk fills
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", torn_save)
    with pytest.raises(NnmlError, match="No space left on device; free disk space"):
        checkpoint.atomic_save({"model": {"w": torch.zeros(3)}}, path)
    assert os.listdir(tmp_path) == ["last.pt"], "no temp file left behind"
    assert torch.equal(checkpoint.load_checkpoint(path)["model"]["w"], torch.ones(3))


def test_signal_guard_first_signal_flags_second_sigint_stops_at_once():
    from nnml.engine.signals import SignalGuard as _SignalGuard

    before = signal.getsignal(signal.SIGINT)
    with _SignalGuard() as guard:
        os.kill(os.getpid(), signal.SIGINT)
        assert guard.signum == signal.SIGINT  # noted; the loop finishes its step, saves and exits 130
        with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C stops at once
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs between bytecodes of the main thread
                pass
    with _SignalGuard() as guard:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)  # SIGTERM again only notes it again
        assert guard.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGINT) is before
