"""Ctrl-C during a sweep, through the real CLI: the running job saves, the sweep prints its summary and the one
command that continues it, and exits 130; that command finishes the sweep with the finished jobs' files untouched
(sha256) and the interrupted job resumed bit for bit (weights and metrics equal to the same job of an
uninterrupted sweep, the oracle). Also with the joblib launcher (Ctrl-C sent to the command alone, as a scheduler
would), and the sweep folder's lock: a second sweep is refused while the first runs, and a SIGKILLed sweep's lock
is taken over."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import run_cli
from tests.sweep.test_continue import hashes, metrics, results

pytestmark = pytest.mark.slow

OPTIMIZERS = ["sgd", "adam", "rmsprop"]
ARGS = ["train", "-m", f"optimizer={','.join(OPTIMIZERS)}", "trainer.max_epochs=12",
        "trainer.checkpoint_every_n_epochs=1", "trainer.num_threads=1", "trainer.device=cpu", "dataset.batch_size=16",
        "model.dropout=0.3", "model.hidden=[64]", "trainer.log_every_n_steps=10", "hydra.sweep.dir=sweep"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The same sweep, never interrupted."""
    root = tmp_path_factory.mktemp("reference")
    proc = run_cli(ARGS, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "sweep"


def start(cwd: Path, args) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "nnml", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen, *paths: Path) -> None:
    deadline = time.monotonic() + 600  # only against a hang; nothing is asserted about time
    while not all(p.exists() for p in paths):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"no {paths}"
        time.sleep(0.005)


def continue_command(stderr: str) -> list[str]:
    """The command the stopped sweep printed, as arguments of ``python -m nnml``."""
    lines = stderr.splitlines()
    at = next(i for i, line in enumerate(lines) if "Continue it" in line)
    words = shlex.split(lines[at + 1])
    assert words[:4] == ["nnml", "train", "-m", "--continue"], lines[at + 1]
    return words[1:]


def same_job(job: Path, ref: Path) -> None:
    a = torch.load(job / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)["model"]
    b = torch.load(ref / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), job.name
    assert results(metrics(job)) == results(metrics(ref)), job.name


def test_ctrl_c_then_continue_finishes_the_sweep_exactly(tmp_path, reference):
    sweep = tmp_path / "sweep"
    proc = start(tmp_path, ARGS)
    wait_for(proc, sweep / "optimizer=sgd" / "metrics.json", sweep / "optimizer=adam" / "checkpoints" / "last.pt")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "optimizer=sgd" in out and "Sweep of 2 jobs" in out  # the summary of what it has
    assert "stopped optimizer=adam by Ctrl-C; saved" in err
    stopped_at = torch.load(sweep / "optimizer=adam" / "checkpoints" / "last.pt", weights_only=True)["loop"]
    assert stopped_at["epoch"] < 12 and not (sweep / "optimizer=adam" / "metrics.json").exists()
    assert not (sweep / "optimizer=rmsprop").exists()
    finished = hashes(sweep / "optimizer=sgd")

    again = run_cli(continue_command(err), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert hashes(sweep / "optimizer=sgd") == finished
    for opt in OPTIMIZERS:
        same_job(sweep / f"optimizer={opt}", reference / f"optimizer={opt}")
    segments = metrics(sweep / "optimizer=adam")["segments"]
    assert [(s["from_epoch"], s["to_epoch"]) for s in segments] == [(0, stopped_at["epoch"]),
                                                                     (stopped_at["epoch"], 12)]
    prov = json.loads((sweep / "optimizer=adam" / "provenance.json").read_text())
    assert prov["argv"] == ["nnml", *ARGS] and prov["from_epoch"] == 0
    assert [r["argv"] for r in prov["resumes"]] == [["nnml", *continue_command(err)]]
    assert prov["resumes"][0]["from_epoch"] == stopped_at["epoch"]
    lines = again.stdout.splitlines()
    assert any(line.startswith("optimizer=sgd") and "kept (finished before)" in line for line in lines)
    assert any(line.startswith("optimizer=adam") and "resumed in epoch" in line for line in lines)
    assert "Sweep of 3 jobs" in again.stdout


def test_ctrl_c_to_a_parallel_sweep_then_continue(tmp_path, reference):
    args = [*ARGS, "hydra/launcher=parallel"]
    sweep = tmp_path / "sweep"
    proc = start(tmp_path, args)
    wait_for(proc, *(sweep / f"optimizer={o}" / "checkpoints" / "last.pt" for o in OPTIMIZERS[:2]))
    proc.send_signal(signal.SIGINT)  # to the command only: it asks its workers' jobs to stop
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "stopping the sweep" in err
    done = {o: hashes(sweep / f"optimizer={o}") for o in OPTIMIZERS if (sweep / f"optimizer={o}" / "metrics.json")
            .exists()}
    stopped = [o for o in OPTIMIZERS if (sweep / f"optimizer={o}" / "checkpoints" / "last.pt").exists()
               and o not in done]
    assert stopped, "a running job was stopped"

    again = run_cli(continue_command(err), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {o: hashes(sweep / f"optimizer={o}") for o in done} == done
    for opt in OPTIMIZERS:
        same_job(sweep / f"optimizer={opt}", reference / f"optimizer={opt}")
    for opt in stopped:
        assert len(metrics(sweep / f"optimizer={opt}")["segments"]) == 2
    # A job in a joblib worker records the command as typed too (the task function carries it)
    prov = json.loads((sweep / f"optimizer={stopped[0]}" / "provenance.json").read_text())
    assert prov["argv"] == ["nnml", *args]


def test_a_second_sweep_on_the_folder_is_refused_and_a_killed_ones_lock_is_taken_over(tmp_path):
    args = ["train", "-m", "optimizer=sgd,adam", "trainer.max_epochs=200", "trainer.num_threads=1",
            "trainer.device=cpu", "model.hidden=[16]", "trainer.checkpoint_every_n_epochs=1", "hydra.sweep.dir=sweep"]
    sweep = tmp_path / "sweep"
    first = start(tmp_path, args)
    wait_for(first, sweep / "optimizer=sgd" / "checkpoints" / "last.pt")
    first.send_signal(signal.SIGSTOP)  # paused, not finished, however slow the second command is to start
    second = run_cli(args, cwd=tmp_path)
    assert first.poll() is None, "the first sweep still runs"
    assert second.returncode == 2, second.stderr
    assert "is being written by another nnml process" in second.stderr
    assert f"pid {first.pid} on " in second.stderr

    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    assert (sweep / ".nnml.lock").is_file()  # left behind by the killed process: its flock died with it
    taken = run_cli(args, cwd=tmp_path)
    assert taken.returncode == 0, taken.stderr[-3000:]
    assert "1 interrupted" in taken.stderr
    assert len(metrics(sweep / "optimizer=sgd")["segments"]) == 2
    assert metrics(sweep / "optimizer=adam")["epochs"] == 200
