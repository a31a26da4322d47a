"""Never lose a run, through the real CLI: a run killed with SIGKILL, or stopped with SIGINT/SIGTERM, resumes to
bit-identical weights and identical metrics compared with the same run left alone; its TensorBoard scalars have no
duplicated or missing steps; a checkpoint holds everything a resume needs.

The oracle is the uninterrupted run with the same config (dropout > 0, so the RNG state matters)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import cli, read_metrics, run_cli, run_dirs

pytestmark = pytest.mark.slow

MAX_EPOCHS = 6
ARGS = ["train", f"trainer.max_epochs={MAX_EPOCHS}", "trainer.checkpoint_every_n_epochs=1", "trainer.num_threads=1",
        "trainer.device=cpu", "dataset.batch_size=16", "model.dropout=0.3", "model.hidden=[64]",
        "trainer.log_every_n_steps=10"]


def _ok(result):
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run."""
    cwd = tmp_path_factory.mktemp("reference")
    _ok(run_cli(ARGS, cwd))
    (run,) = run_dirs(cwd)
    return run


def _start_then_signal(cwd: Path, sig: int) -> tuple[subprocess.CompletedProcess, Path]:
    """Start the run, wait until its first checkpoint exists (training is under way), then send ``sig``."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "nnml", *ARGS], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300  # only against a hang; nothing is asserted about time
    while not list(cwd.glob("outputs/train/runs/*/checkpoints/last.pt")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run wrote no checkpoint"
        time.sleep(0.005)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=300)
    (run,) = run_dirs(cwd)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), run


def _weights(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)["model"]


def _assert_same_run(run: Path, reference: Path) -> None:
    a, b = _weights(run), _weights(reference)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ma, mb = read_metrics(run), read_metrics(reference)
    for k in mb:
        if k.startswith(("test/", "val/", "train/")) or k in ("best_epoch", "epochs", "stop_reason"):
            assert ma[k] == mb[k], k


def _scalars(run: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(run))
    ea.Reload()
    return [(e.step, e.value) for e in ea.Scalars(tag)]


def test_checkpoint_holds_everything_a_resume_needs(reference):
    import nnml

    ckpt = torch.load(reference / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert {"model", "optimizer", "scheduler", "scaler", "loop", "rng", "config", "nnml_version"} <= ckpt.keys()
    assert {"epoch", "step_in_epoch", "global_step", "best_metric", "best_epoch", "bad_epochs"} <= ckpt["loop"].keys()
    assert ckpt["loop"]["epoch"] == MAX_EPOCHS and ckpt["loop"]["step_in_epoch"] == 0
    assert {"torch", "numpy", "python"} <= ckpt["rng"].keys()
    assert ckpt["optimizer"]["state"], "Adam's moments are saved"
    assert ckpt["config"]["model"]["dropout"] == 0.3 and ckpt["config"]["trainer"]["max_epochs"] == MAX_EPOCHS
    assert ckpt["nnml_version"] == nnml.__version__
    best = torch.load(reference / "checkpoints" / "best.pt", map_location="cpu", weights_only=True)
    assert best["loop"]["epoch"] == read_metrics(reference)["best_epoch"]


def test_sigkill_then_resume_is_bit_exact(tmp_path, reference):
    killed, run = _start_then_signal(tmp_path, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    stopped_at = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["loop"]
    assert stopped_at["epoch"] < MAX_EPOCHS, "killed before the end"
    assert not (run / "metrics.json").exists()

    resumed = _ok(cli(["train", f"resume={run}"], tmp_path))
    assert run_dirs(tmp_path) == [run], "a resume continues in the run's own folder"
    assert "resumed" in resumed.stdout.lower() or read_metrics(run)["epochs"] == MAX_EPOCHS
    _assert_same_run(run, reference)
    # Two segments: the killed one up to its last checkpoint, then the resume; the totals add both.
    m = read_metrics(run)
    assert [(s["from_epoch"], s["to_epoch"]) for s in m["segments"]] == [(0, stopped_at["epoch"]),
                                                                         (stopped_at["epoch"], MAX_EPOCHS)]
    assert m["wall_time_s"] == pytest.approx(sum(s["wall_time_s"] for s in m["segments"]), abs=1e-3)
    assert m["wall_time_s"] > m["segments"][-1]["wall_time_s"]

    # TensorBoard: every epoch once, at the same steps and with the same values as the uninterrupted run.
    for tag in ("val/loss", "train/loss", "train/step_loss"):
        got, want = _scalars(run, tag), _scalars(reference, tag)
        assert got == want, tag
        assert len({s for s, _ in got}) == len(got)

    # An override extends a finished run.
    _ok(cli(["train", f"resume={run}", f"trainer.max_epochs={MAX_EPOCHS + 1}"], tmp_path))
    assert read_metrics(run)["epochs"] == MAX_EPOCHS + 1
    assert [s for s, _ in _scalars(run, "val/loss")] == sorted({s for s, _ in _scalars(run, "val/loss")})
    assert len(_scalars(run, "val/loss")) == MAX_EPOCHS + 1


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_last_checkpoint_and_resume_finishes_exactly(tmp_path, reference, sig, code):
    stopped, run = _start_then_signal(tmp_path, sig)
    assert stopped.returncode == code, stopped.stderr
    assert f"nnml train resume={run.resolve()}" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    ckpt = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)  # loadable
    assert ckpt["loop"]["epoch"] < MAX_EPOCHS and ckpt["loop"]["global_step"] > 0
    assert not list(run.glob("checkpoints/.*.tmp"))
    # The scalars up to the checkpoint were flushed before exiting.
    assert [s for s, _ in _scalars(run, "val/loss")][:1] == [s for s, _ in _scalars(reference, "val/loss")][:1]

    _ok(cli(["train", f"resume={run}"], tmp_path))
    _assert_same_run(run, reference)
    assert not (run / "error.txt").exists()


def test_leftover_temp_file_is_not_a_checkpoint(tmp_path, reference):
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    last = run / "checkpoints" / "last.pt"
    torn = run / "checkpoints" / ".last.pt.x1y2z3.tmp"
    torn.write_bytes(last.read_bytes()[:1000])  # what a crash in the middle of a write leaves
    last.unlink()
    r = cli(["train", f"resume={run}"], tmp_path)
    assert r.returncode == 2, r.stderr
    assert "no checkpoint at" in r.stderr and ".last.pt.x1y2z3.tmp is a temp file left by an interrupted write" \
        in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "outputs").exists()


def test_truncated_checkpoint_is_reported_corrupt(tmp_path, reference):
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    last = run / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    r = cli(["train", f"resume={run}"], tmp_path)
    assert r.returncode == 2, r.stderr
    assert f"checkpoint {last}" in r.stderr and "is corrupt or not a checkpoint" in r.stderr
    assert "Traceback" not in r.stderr
    r = cli(["eval", str(run), "--checkpoint", "last"], tmp_path)
    assert r.returncode == 2 and "is corrupt or not a checkpoint" in r.stderr


def test_resume_refuses_other_groups_and_other_models(tmp_path, reference):
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    r = cli(["train", f"resume={run}", "optimizer=sgd"], tmp_path)
    assert r.returncode == 2 and "a resumed run keeps what it learns" in r.stderr, r.stderr
    r = cli(["train", f"resume={run}", "optimizer.lr=0.5"], tmp_path)
    assert r.returncode == 2 and "the optimizer continues from the state the run saved" in r.stderr, r.stderr
    r = cli(["train", f"resume={run}", "model.hidden=[16]"], tmp_path)
    assert r.returncode == 2 and "model is part of what the run learns" in r.stderr, r.stderr
    r = cli(["eval", str(run), "model.hidden=[16]"], tmp_path)
    assert r.returncode == 2 and "was saved from a different model" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
