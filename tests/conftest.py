"""Shared test helpers: compose the real config with tiny overrides, run the real CLI in-process or as a
subprocess, and keep every run's outputs inside a temp folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Subprocesses (python -m nnml) must import this checkout, installed or not.
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
os.environ.setdefault("MPLBACKEND", "Agg")

TINY = ["trainer.max_epochs=2", "trainer.device=cpu", "trainer.num_threads=1"]


def compose(overrides=(), config_name: str = "train"):
    """The real train config composed with the compose API (no run folder), for build-level tests."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import nnml.entry  # noqa: F401  (registers the resolvers)
    from nnml.config import config_dir

    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


def run_cli(args, cwd: Path, env=None, timeout: float = 300, input_text=None) -> subprocess.CompletedProcess:
    """``python -m nnml ARGS`` in ``cwd`` (so outputs/ lands there), capturing stdout and stderr."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "nnml", *args], cwd=cwd, env=e, capture_output=True,
                          text=True, timeout=timeout, input=input_text)


def run_dirs(root: Path, task: str = "train") -> list[Path]:
    return sorted(p for p in (root / "outputs" / task / "runs").glob("*") if p.is_dir())


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A temp folder as the current directory, so runs write to tmp/outputs."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def train_in_process(workdir):
    """Call ``nnml train`` through Typer's CliRunner in this process; returns (result, run_dir or None)."""
    from typer.testing import CliRunner

    from nnml.cli import app

    def call(*overrides, tiny: bool = True):
        before = set(run_dirs(workdir))
        result = CliRunner().invoke(app, ["train", *(TINY if tiny else []), *overrides])
        new = sorted(set(run_dirs(workdir)) - before)
        return result, (new[-1] if new else None)

    return call
