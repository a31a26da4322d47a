"""A seven-optimizer sweep run once per test session (2 epochs, one thread per job), shared by the sweep, compare
and board tests; it is read, never written, by them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import cli

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]


@pytest.fixture(scope="session")
def seven_sweep(tmp_path_factory):
    """(completed process, sweep folder) of ``nnml train -m optimizer=<seven>``; one override value holds a '/'."""
    root = tmp_path_factory.mktemp("seven")
    proc = cli(["train", "-m", f"optimizer={','.join(OPTIMIZERS)}", "trainer.max_epochs=2",
                    "trainer.num_threads=1", "trainer.device=cpu", "+note=a/b"], cwd=root, timeout=600)
    sweeps = sorted((root / "outputs" / "train" / "multiruns").glob("*"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(sweeps) == 1, sweeps
    return proc, sweeps[0]


def job_dirs(sweep: Path) -> list[Path]:
    return sorted(p for p in sweep.iterdir() if (p / ".hydra").is_dir())
