"""Files from a run folder are data, not code: a checkpoint that pickles a callable is refused without running it,
a saved config naming a target outside torch/nnml/allowed_targets is refused before anything is built, and
``nnml board`` listens on the loopback address only unless told otherwise."""

from __future__ import annotations

import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest
import torch
import yaml

from tests.conftest import run_cli, run_dirs

pytestmark = pytest.mark.slow


class Payload:
    """Unpickling this calls open(marker, "w"): a stand-in for any code a hostile checkpoint could run."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("trusted")
    r = run_cli(["train", "trainer.max_epochs=1", "trainer.num_threads=1", "trainer.device=cpu", "model.hidden=[16]",
                 "logger=none"], cwd)
    assert r.returncode == 0, r.stderr
    (run,) = run_dirs(cwd)
    return run


@pytest.fixture
def copy(run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


def _refused(result, *needles):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("error: "), line
    for n in needles:
        assert n in line, (n, line)


def test_pickled_code_in_a_checkpoint_is_refused_and_not_run(copy, tmp_path):
    marker = tmp_path / "pwned"
    good = torch.load(copy / "checkpoints" / "best.pt", weights_only=True)
    torch.save({**good, "model": Payload(str(marker))}, copy / "checkpoints" / "best.pt")
    with pytest.raises(pickle.UnpicklingError):  # torch's safe loader refuses it too
        torch.load(copy / "checkpoints" / "best.pt", weights_only=True)
    assert not marker.exists()
    _refused(run_cli(["eval", str(copy), "--json"], tmp_path),
             "best.pt holds objects other than tensors and plain data", "refuses it")
    assert not marker.exists()

    torch.save({**good, "model": Payload(str(marker))}, copy / "checkpoints" / "last.pt")
    _refused(run_cli(["train", f"resume={copy}"], tmp_path), "last.pt holds objects other than tensors")
    assert not marker.exists()
    torch.load(copy / "checkpoints" / "best.pt", weights_only=False)  # the oracle: unrestricted loading runs it
    assert marker.exists()


def test_saved_config_with_a_foreign_target_is_refused(copy, tmp_path):
    marker = tmp_path / "pwned"
    cfg_path = copy / ".hydra" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["model"] = {"_target_": "os.system", "_args_": [f"touch {marker}"]}
    cfg_path.write_text(yaml.safe_dump(cfg))
    _refused(run_cli(["eval", str(copy)], tmp_path), "model._target_=os.system is not allowed",
             "allowed_targets")
    _refused(run_cli(["train", f"resume={copy}"], tmp_path), "model._target_=os.system is not allowed")
    assert not marker.exists()


def test_the_prefixes_named_on_the_command_line_extend_the_registry():
    from nnml.config.targets import Trust
    from nnml.errors import NnmlError

    cfg = {"model": {"_target_": "mypkg.models.Net"}, "logger": {"tb": {"_target_": "nnml.tracking.tensorboard.TensorBoardLogger"}}}
    with pytest.raises(NnmlError, match=r"model._target_=mypkg.models.Net is not allowed"):
        Trust.folder(source="the config of RUN").check(cfg)
    Trust.folder(["mypkg."]).check(cfg)
    with pytest.raises(NnmlError, match=r"extra\[1\]._target_=os.system"):
        Trust.folder(["mypkg."]).check({**cfg, "extra": [{"_target_": "torch.nn.ReLU"}, {"_target_": "os.system"}]})


def _lan_address():
    """A non-loopback address of this machine, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


def test_board_binds_loopback_only(run, tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "nnml", "board", str(run.parent), "--port", "0"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120  # only against a hang
        line = ""
        while "TensorBoard on" not in line:
            assert time.monotonic() < deadline and proc.poll() is None, line
            line = proc.stdout.readline()
        url = re.search(r"http://[^\s/]+:(\d+)/", line)
        assert url and url.group(0).startswith(("http://127.0.0.1:", "http://localhost:")), line
        port = int(url.group(1))
        socket.create_connection(("127.0.0.1", port), timeout=10).close()
        lan = _lan_address()
        if lan:
            with pytest.raises(OSError):
                socket.create_connection((lan, port), timeout=5).close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
